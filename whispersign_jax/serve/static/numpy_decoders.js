// Mirrors whispersign_jax/decoding/numpy_decoders.py: CTC greedy, CTC prefix beam search,
// attention rescoring of its n-best, Viterbi alignment and span confidences, for one window.
//
// Same state arrays and tie-breaking as the NumPy (ties go to the lower index), float32
// wherever NumPy holds float32 (Math.fround after each operation, NumPy's pairwise float32
// sums), float64 where NumPy promotes (the Viterbi scores). Held to the Python by
// tests/serve/test_js_parity.py.
import {RUNTIME_DECODERS} from "./options.js";

const f32 = Math.fround;
const LN2_F32 = f32(Math.LN2);

/** np.logaddexp of two float32 values, step by step in float32 (-inf handled as NumPy). */
function logAddExp(a, b) {
  if (a === b) return f32(a + LN2_F32); // also -inf, -inf -> -inf
  const difference = f32(a - b);
  if (difference > 0) return f32(a + f32(Math.log1p(f32(Math.exp(-difference)))));
  if (difference <= 0) return f32(b + f32(Math.log1p(f32(Math.exp(difference)))));
  return difference; // NaN
}

/** NumPy's float32 sum of `values` (add.reduce: pairwise, blocks of 8 accumulators). */
function float32Sum(values, from = 0, to = values.length) {
  const count = to - from;
  if (count < 8) {
    let sum = 0;
    for (let i = from; i < to; i++) sum = f32(sum + values[i]);
    return sum;
  }
  if (count <= 128) {
    const partial = Array.from({length: 8}, (_, j) => f32(values[from + j]));
    let i = from + 8;
    for (; i < to - (count % 8); i += 8) {
      for (let j = 0; j < 8; j++) partial[j] = f32(partial[j] + values[i + j]);
    }
    const [r0, r1, r2, r3, r4, r5, r6, r7] = partial;
    let sum = f32(f32(f32(r0 + r1) + f32(r2 + r3)) + f32(f32(r4 + r5) + f32(r6 + r7)));
    for (; i < to; i++) sum = f32(sum + values[i]);
    return sum;
  }
  let half = Math.floor(count / 2);
  half -= half % 8;
  return f32(float32Sum(values, from, from + half) + float32Sum(values, from + half, to));
}

/** np.argmax over values[from, to): the first largest, or the first NaN. */
function argmax(values, from = 0, to = values.length) {
  let best = from;
  for (let i = from; i < to; i++) {
    if (Number.isNaN(values[i])) return i - from;
    if (values[i] > values[best]) best = i;
  }
  return best - from;
}

/** True when `a` comes before `b` in np.argsort(-x): larger first, NaN last. */
function ranksBefore(a, b) {
  return !Number.isNaN(a) && (Number.isNaN(b) || a > b);
}

/** Indices of the k largest values, ties to the lower index (np.argsort(-x, kind="stable")[:k]). */
function topK(values, k) {
  const chosen = [];
  for (let i = 0; i < values.length; i++) {
    if (chosen.length === k && !ranksBefore(values[i], values[chosen[k - 1]])) continue;
    let at = chosen.length;
    while (at > 0 && ranksBefore(values[i], values[chosen[at - 1]])) at--;
    chosen.splice(at, 0, i);
    if (chosen.length > k) chosen.pop();
  }
  return chosen;
}

/** Row-wise log-softmax (numpy_decoders.log_softmax): logits (P, C) row-major -> float32
 * (P, C). */
export function logSoftmax(logits, classes) {
  const out = new Float32Array(logits.length);
  const exps = new Float32Array(classes);
  for (let row = 0; row < logits.length; row += classes) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, f32(logits[row + c]));
    for (let c = 0; c < classes; c++) exps[c] = Math.exp(f32(logits[row + c] - max));
    const logSum = f32(Math.log(float32Sum(exps)));
    for (let c = 0; c < classes; c++) out[row + c] = f32(logits[row + c] - max) - logSum;
  }
  return out;
}

/** The best class per position, collapsed (numpy_decoders.greedy): logProbs (P, C) ->
 * {ids (L), length, score, spans (L, 2) [start, end) runs}. */
function greedy(logProbs, valid, classes, maxGlosses, blank) {
  const positions = valid.length;
  const frameIds = new Int32Array(positions); // (P,) best class, blank where invalid
  const frameScores = new Float32Array(positions); // (P,) its log-prob, 0 where invalid
  for (let p = 0; p < positions; p++) {
    const best = argmax(logProbs, p * classes, (p + 1) * classes);
    frameIds[p] = valid[p] ? best : blank;
    frameScores[p] = valid[p] ? logProbs[p * classes + best] : 0;
  }
  const ids = new Int32Array(maxGlosses);
  const spans = new Int32Array(2 * maxGlosses);
  let length = 0;
  let previous = blank;
  for (let p = 0; p < positions; p++) {
    const token = frameIds[p];
    if (token !== previous && token !== blank && length < maxGlosses) {
      let end = p;
      while (end < positions && frameIds[end] === token) end++;
      ids[length] = token;
      spans.set([p, end], 2 * length);
      length++;
    }
    previous = token;
  }
  return {ids, length, score: float32Sum(frameScores), spans};
}

/** Whether prefix `child` is prefix `parent` plus one gloss: every slot equal once the
 * child's last gloss is blanked (the parent check of numpy_decoders.prefix_beam_search). */
function extendsPrefix(child, childLength, parent, blank) {
  for (let slot = 0; slot < child.length; slot++) {
    const expected = slot === childLength - 1 ? blank : child[slot];
    if (expected !== parent[slot]) return false;
  }
  return true;
}

/** For each prefix j of the beam, the first live prefix k that j extends by one gloss; -1
 * where none (or j is dead): parentOf (K). */
function parents(prefixes, lengths, total, blank) {
  return Int32Array.from(lengths, (length, j) => {
    if (!Number.isFinite(total[j])) return -1;
    for (let k = 0; k < lengths.length; k++) {
      const alive = Number.isFinite(total[k]);
      const oneLonger = length === lengths[k] + 1;
      if (alive && oneLonger && extendsPrefix(prefixes[j], length, prefixes[k], blank)) return k;
    }
    return -1;
  });
}

/** One valid position of the prefix beam search: the beam state after log-probs `lp` (C). */
function beamStep(beam, lp, maxGlosses, blank) {
  const {prefixes, lengths, blankEnd, glossEnd} = beam;
  const size = lengths.length;
  const glossClasses = lp.length - 1;
  const total = Float32Array.from(blankEnd, (b, k) => logAddExp(b, glossEnd[k]));
  const last = Int32Array.from(lengths, (n, k) => (n > 0 ? prefixes[k][n - 1] : blank));
  const stayBlank = Float32Array.from(total, (t) => t + lp[blank]);
  const stayGloss = Float32Array.from(lengths, (n, k) =>
    n > 0 ? glossEnd[k] + lp[last[k]] : -Infinity,
  );
  const extend = new Float32Array(size * glossClasses).fill(-Infinity); // (K, C - 1)
  for (let k = 0; k < size; k++) {
    if (lengths[k] >= maxGlosses) continue;
    for (let c = 1; c <= glossClasses; c++) {
      extend[k * glossClasses + c - 1] = (c === last[k] ? blankEnd[k] : total[k]) + lp[c];
    }
  }
  // A prefix that is another one plus a gloss is also reached by extending that one.
  const parentOf = parents(prefixes, lengths, total, blank);
  const merged = Float32Array.from(parentOf, (k, j) =>
    k < 0 ? 0 : extend[k * glossClasses + Math.max(last[j] - 1, 0)],
  );
  parentOf.forEach((k, j) => {
    if (k >= 0) stayGloss[j] = logAddExp(stayGloss[j], merged[j]);
  });
  parentOf.forEach((k, j) => {
    if (k >= 0) extend[k * glossClasses + last[j] - 1] = -Infinity;
  });
  const candidates = new Float32Array(size + extend.length); // stays (K), then extensions
  stayBlank.forEach((b, k) => (candidates[k] = logAddExp(b, stayGloss[k])));
  candidates.set(extend, size);
  const next = {
    prefixes: [],
    lengths: new Int32Array(size),
    blankEnd: new Float32Array(size),
    glossEnd: new Float32Array(size),
  };
  topK(candidates, size).forEach((index, k) => {
    const isExtension = index >= size;
    const source = isExtension ? Math.floor((index - size) / glossClasses) : index;
    const prefix = prefixes[source].slice();
    let length = lengths[source];
    if (isExtension) prefix[length++] = ((index - size) % glossClasses) + 1;
    next.prefixes.push(prefix);
    next.lengths[k] = length;
    next.blankEnd[k] = isExtension ? -Infinity : stayBlank[source];
    next.glossEnd[k] = isExtension ? extend[index - size] : stayGloss[source];
  });
  return next;
}

/** The `beamSize` most probable label sequences (numpy_decoders.prefix_beam_search):
 * {ids: K Int32Arrays (L), lengths (K), scores (K)}, best first. */
function prefixBeamSearch(logProbs, valid, classes, beamSize, maxGlosses, blank) {
  let beam = {
    prefixes: Array.from({length: beamSize}, () => new Int32Array(maxGlosses)),
    lengths: new Int32Array(beamSize),
    blankEnd: Float32Array.from({length: beamSize}, (_, k) => (k === 0 ? 0 : -Infinity)),
    glossEnd: new Float32Array(beamSize).fill(-Infinity),
  };
  for (let p = 0; p < valid.length; p++) {
    if (!valid[p]) continue;
    beam = beamStep(beam, logProbs.subarray(p * classes, (p + 1) * classes), maxGlosses, blank);
  }
  const scores = Float32Array.from(beam.blankEnd, (b, k) => logAddExp(b, beam.glossEnd[k]));
  const order = topK(scores, beamSize);
  return {
    ids: order.map((k) => beam.prefixes[k]),
    lengths: Int32Array.from(order, (k) => beam.lengths[k]),
    scores: Float32Array.from(order, (k) => scores[k]),
  };
}

/** Viterbi alignment of ids[:length] (numpy_decoders.forced_alignment): spans (L, 2) flat,
 * [start, end) encoder positions of each gloss on the best path. Scores are float64 after
 * the first position, as in NumPy. */
function forcedAlignment(logProbs, valid, classes, ids, length, blank) {
  const states = 2 * ids.length + 1; // blank, g1, blank, g2, ..., blank
  const labels = Int32Array.from({length: states}, (_, s) =>
    s % 2 === 1 ? ids[(s - 1) / 2] : blank,
  );
  const used = (s) => s < 2 * length + 1;
  const canSkip = (s) => s % 2 === 1 && (s < 2 || labels[s] !== labels[s - 2]);
  let scores = Float64Array.from({length: states}, (_, s) =>
    used(s) && s < 2 ? logProbs[labels[s]] : -Infinity,
  );
  const moves = []; // per position 1..P-1: 0 stay, 1 advance, 2 skip; -1 where invalid
  for (let p = 1; p < valid.length; p++) {
    if (!valid[p]) {
      moves.push(new Int32Array(states).fill(-1));
      continue;
    }
    const next = new Float64Array(states);
    const move = new Int32Array(states);
    for (let s = 0; s < states; s++) {
      const advance = s >= 1 ? scores[s - 1] : -Infinity;
      const skip = canSkip(s) && s >= 2 ? scores[s - 2] : -Infinity;
      const options = [scores[s], advance, skip];
      move[s] = argmax(options);
      next[s] = used(s) ? options[move[s]] + logProbs[p * classes + labels[s]] : -Infinity;
    }
    scores = next;
    moves.push(move);
  }
  const finalGloss = length > 0 ? scores[2 * length - 1] : -Infinity;
  let state = scores[2 * length] >= finalGloss ? 2 * length : 2 * length - 1;
  const path = new Int32Array(valid.length); // (P,) state per position
  path[valid.length - 1] = state;
  for (let p = valid.length - 1; p >= 1; p--) {
    state -= Math.max(moves[p - 1][state], 0);
    path[p - 1] = state;
  }
  const spans = new Int32Array(2 * ids.length);
  for (let slot = 0; slot < length; slot++) {
    const here = [];
    path.forEach((s, p) => s === 2 * slot + 1 && valid[p] && here.push(p));
    spans.set(here.length ? [here[0], here[here.length - 1] + 1] : [path.length, 0], 2 * slot);
  }
  return spans;
}

/** The highest CTC posterior of each gloss inside its span: (L) float32 in [0, 1]. */
function spanConfidences(logProbs, classes, ids, spans) {
  return Float32Array.from(ids, (gloss, slot) => {
    let best = 0;
    for (let p = spans[2 * slot]; p < spans[2 * slot + 1]; p++) {
      best = Math.max(best, f32(Math.exp(logProbs[p * classes + gloss])));
    }
    return best;
  });
}

/** The n-best's rows (K Int32Arrays) as one (K, L) row-major Int32Array. */
function stacked(rows, width) {
  const flat = new Int32Array(rows.length * width);
  rows.forEach((row, k) => flat.set(row, k * width));
  return flat;
}

/** The prefix beam search's best hypothesis, or its n-best rescored by the attention decoder
 * (ctc_weight * ctc + (1 - ctc_weight) * attention, float32 as NumPy computes it). */
async function beamDecode(logProbs, valid, classes, settings, maxGlosses, attentionScores) {
  const {beam_size: beamSize, blank_id: blank} = settings;
  const nbest = prefixBeamSearch(logProbs, valid, classes, beamSize, maxGlosses, blank);
  let pick = 0;
  let score = nbest.scores[0];
  let attentionScore = null;
  if (settings.decoder === "attention_rescoring") {
    if (!attentionScores) {
      throw new Error("attention_rescoring needs the exported decoder (scorer).");
    }
    const ids = stacked(nbest.ids, maxGlosses); // (K, L)
    const attention = await attentionScores(ids, nbest.lengths, maxGlosses);
    const ctcWeight = f32(settings.ctc_weight);
    const attentionWeight = f32(1 - settings.ctc_weight);
    const combined = Float32Array.from(nbest.scores, (ctc, k) =>
      Number.isFinite(ctc) ? f32(ctcWeight * ctc) + f32(attentionWeight * attention[k]) : -Infinity,
    );
    pick = argmax(combined);
    score = combined[pick];
    attentionScore = f32(attention[pick]);
  }
  return {
    ids: nbest.ids[pick],
    length: nbest.lengths[pick],
    score,
    ctcScore: nbest.scores[pick],
    attentionScore,
    nbest, // result.js keeps the hypotheses with a finite score
  };
}

/** One window's log-probs (P, C) row-major and valid (P) -> the chosen hypothesis
 * (numpy_decoders.decode): {ids (L), length, score, ctcScore, attentionScore (null unless
 * rescoring), spans (L, 2) flat, confidences (L), nbest ({ids: K Int32Arrays, lengths (K),
 * scores (K)} best first; null for greedy)}.
 * `attentionScores(ids (K, L) flat, lengths (K), L)` -> Promise of log p_attention (K);
 * attention_rescoring only. */
export async function decode(logProbs, valid, classes, settings, maxGlosses, attentionScores) {
  const blank = settings.blank_id;
  let out;
  if (settings.decoder === "ctc_greedy") {
    const best = greedy(logProbs, valid, classes, maxGlosses, blank);
    out = {...best, ctcScore: best.score, attentionScore: null, nbest: null};
  } else if (RUNTIME_DECODERS.includes(settings.decoder)) {
    out = await beamDecode(logProbs, valid, classes, settings, maxGlosses, attentionScores);
    out.spans = forcedAlignment(logProbs, valid, classes, out.ids, out.length, blank);
  } else {
    throw new Error(
      `The page decodes with ${RUNTIME_DECODERS.join(", ")}, not ` +
        `${JSON.stringify(settings.decoder)} (whispersign_web.json's decoder; export the ` +
        `page's model with one of these).`,
    );
  }
  out.confidences = spanConfidences(logProbs, classes, out.ids, out.spans);
  return out;
}
