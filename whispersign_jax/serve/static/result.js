// Mirrors whispersign_jax/decoding/result.py: a decoder's outputs -> the recognition the page
// shows (to_recognitions, for one clip). Gloss names come from whispersign_web.json's
// glosses (glosses[i] has id i + 1). Held to the Python by tests/serve/test_js_parity.py.

/** A score as to_recognitions keeps it (_optional): null when absent or not finite. */
function finiteOrNull(score) {
  return score !== null && score !== undefined && Number.isFinite(score) ? score : null;
}

/** The n-best id lists of the hypotheses with a finite score, best first; [] without an
 * n-best (greedy). */
function nbestLists(nbest) {
  if (!nbest) return [];
  return nbest.ids.flatMap((row, k) =>
    Number.isFinite(nbest.scores[k]) ? [Array.from(row.subarray(0, nbest.lengths[k]))] : [],
  );
}

/** decode's outputs (numpy_decoders.js) -> one recognition: glosses {id, name, confidence,
 * start_frame, end_frame} in the clip's frames, ends clipped to `numFrames`; scores, n-best. */
export function toRecognition(outputs, settings, numFrames) {
  const glosses = [];
  for (let slot = 0; slot < outputs.length; slot++) {
    const id = outputs.ids[slot];
    const start = outputs.spans[2 * slot] * settings.patch_size;
    const end = outputs.spans[2 * slot + 1] * settings.patch_size;
    glosses.push({
      id,
      name: settings.glosses[id - 1],
      confidence: outputs.confidences[slot],
      start_frame: start,
      end_frame: Math.min(Math.max(end, start + 1), numFrames),
    });
  }
  return {
    decoder: settings.decoder,
    score: outputs.score,
    ctc_score: finiteOrNull(outputs.ctcScore),
    attention_score: finiteOrNull(outputs.attentionScore),
    nbest: nbestLists(outputs.nbest),
    glosses,
  };
}
