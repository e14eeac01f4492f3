// Mirrors whispersign_jax/export/runtime.py: the scorer padding of ExportedModel.score and
// ExportedRecognizer.recognize from the encoder's outputs on (log-softmax, the hypothesis cap
// of the padded clip, decoding, the recognition). model.js runs the ONNX models around it.
// Held to the Python by tests/serve/test_js_parity.py.
import {decode, logSoftmax} from "./numpy_decoders.js";
import {glossesFor, paddedFrames} from "./options.js";
import {toRecognition} from "./result.js";

/** ids (K, L) row-major and lengths (K) padded or cut to the fixed shape of the exported
 * scorer (ExportedModel.score): {ids (scorer_beam, length), lengths (scorer_beam), length};
 * unchanged when the scorer takes any shape (scorer_lengths null). */
export function scorerInputs(ids, lengths, width, settings) {
  const lengthsAllowed = settings.scorer_lengths;
  if (lengthsAllowed === null || lengthsAllowed === undefined) return {ids, lengths, length: width};
  const beam = lengths.length;
  const longest = Math.max(1, ...lengths);
  const fits = lengthsAllowed.filter((n) => n >= longest);
  if (beam > settings.scorer_beam || !fits.length) {
    throw new Error(
      `the exported scorer takes ${settings.scorer_beam} hypotheses of up to ` +
        `${Math.max(...lengthsAllowed)} glosses, got ${beam} of up to ${longest}; lower ` +
        `--beam_size or export with a larger --beam_size.`,
    );
  }
  const length = fits[0];
  const padded = new Int32Array(settings.scorer_beam * length); // (scorer_beam, length)
  for (let k = 0; k < beam; k++) {
    padded.set(ids.subarray(k * width, k * width + Math.min(length, width)), k * length);
  }
  const paddedLengths = new Int32Array(settings.scorer_beam);
  paddedLengths.set(lengths);
  return {ids: padded, lengths: paddedLengths, length};
}

/** The hypothesis cap of a clip of `numFrames`, as ExportedRecognizer.recognize computes it:
 * glosses_for of the padded clip's encoder positions. */
export function maxGlossesFor(settings, numFrames) {
  return glossesFor(settings, Math.ceil(paddedFrames(numFrames, settings) / settings.patch_size));
}

/** ExportedRecognizer.recognize after the encoder: CTC logits (P, C) row-major, the encoder
 * mask (P) and the clip's `numFrames` -> its recognition. `attentionScores(ids (K, L) flat,
 * lengths (K), L)` -> Promise of log p_attention (K), through scorerInputs; rescoring only. */
export async function recognizeLogits(logits, mask, classes, settings, numFrames, attentionScores) {
  const outputs = await decode(
    logSoftmax(logits, classes),
    mask,
    classes,
    settings,
    maxGlossesFor(settings, numFrames),
    attentionScores,
  );
  return toRecognition(outputs, settings, numFrames);
}
