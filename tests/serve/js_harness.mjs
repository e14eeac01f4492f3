// Runs the page's JavaScript ports on inputs made in Python: tests/serve/test_js_parity.py
// writes {calls: [{op, ...arguments}]} as JSON to stdin and reads one result per call
// (or {error}) from stdout. Non-finite numbers cross as the bare tokens Python's json reads
// and writes (-Infinity, Infinity, NaN).
import {readFileSync} from "node:fs";

import {CameraTracks} from "../../whispersign_jax/serve/static/camera_tracks.js";
import {verifiedBytes} from "../../whispersign_jax/serve/static/integrity.js";
import {decode, logSoftmax} from "../../whispersign_jax/serve/static/numpy_decoders.js";
import * as options from "../../whispersign_jax/serve/static/options.js";
import {toRecognition} from "../../whispersign_jax/serve/static/result.js";
import * as runtime from "../../whispersign_jax/serve/static/runtime.js";
import {SlotAssigner} from "../../whispersign_jax/serve/static/slots.js";
import {StreamingRecognizer, WindowPlan} from "../../whispersign_jax/serve/static/streaming.js";
import {resampledFrames} from "../../whispersign_jax/serve/static/tracks.js";

/** JSON text with bare non-finite tokens -> values. */
function parse(text) {
  const quoted = text.replace(/-?Infinity|NaN/g, (token) => `"__${token}__"`);
  const isToken = (value) => typeof value === "string" && /^__(-?Infinity|NaN)__$/.test(value);
  return JSON.parse(quoted, (_, value) => (isToken(value) ? Number(value.slice(2, -2)) : value));
}

/** Values -> JSON text with bare non-finite tokens; typed arrays as lists. */
function stringify(value) {
  const text = JSON.stringify(value, (_, v) => {
    if (ArrayBuffer.isView(v)) return Array.from(v);
    if (typeof v === "number" && !Number.isFinite(v)) return `__${v}__`;
    return v;
  });
  return text.replace(/"__(-?Infinity|NaN)__"/g, "$1");
}

/** The fake attention decoder of the tests, on the scorer's padded (K, L) ids:
 * -0.37 * length - 0.11 * sum_i (ids[i] * (i + 3) mod 7) per row, float32. */
function fakeAttention(ids, lengths, width) {
  return Float32Array.from(lengths, (length, k) => {
    let sum = 0;
    for (let i = 0; i < length; i++) sum += (ids[k * width + i] * (i + 3)) % 7;
    return -0.37 * length - 0.11 * sum;
  });
}

/** attentionScores for decode, through the scorer padding as model.js calls it; records the
 * padded inputs in `calls`. */
function fakeScorer(settings, calls) {
  return async (ids, lengths, width) => {
    const padded = runtime.scorerInputs(ids, lengths, width, settings);
    calls.push(padded);
    return fakeAttention(padded.ids, padded.lengths, padded.length).slice(0, lengths.length);
  };
}

/** A window recogniser over fake signs [{frame, duration, id, confidence}] (absolute stream
 * frames): signs inside the window whole, those cut by its edges clipped at half confidence,
 * placed one frame early or late depending on the window; null where no frame has a hand. */
function fakeWindows(settings, signs, handless) {
  const hasHand = (start, end) => {
    for (let frame = start; frame < end; frame++) {
      if (!handless.some(([from, to]) => from <= frame && frame < to)) return true;
    }
    return false;
  };
  return async (start, end) => {
    if (!hasHand(start, end)) return null;
    const jitter = (Math.floor(start / 7) % 3) - 1;
    const glosses = [];
    for (const sign of signs) {
      const from = Math.max(sign.frame, start);
      const to = Math.min(sign.frame + sign.duration, end);
      if (from >= to) continue;
      const whole = from === sign.frame && to === sign.frame + sign.duration;
      const startFrame = Math.max(from - start + jitter, 0);
      glosses.push({
        id: sign.id,
        name: settings.glosses[sign.id - 1],
        confidence: whole ? sign.confidence : sign.confidence * 0.5,
        start_frame: startFrame,
        end_frame: startFrame + (to - from),
      });
    }
    return {glosses};
  };
}

const float32 = (values) => Float32Array.from(values);
const int32 = (values) => Int32Array.from(values);

const OPERATIONS = {
  logSoftmax: ({logits, classes}) => logSoftmax(float32(logits), classes),
  runtimeDecoders: () => options.RUNTIME_DECODERS,
  paddedFrames: ({settings, numFrames}) => options.paddedFrames(numFrames, settings),
  glossesFor: ({settings, positions}) => options.glossesFor(settings, positions),
  maxGlossesFor: ({settings, numFrames}) => runtime.maxGlossesFor(settings, numFrames),
  scorerInputs: ({ids, lengths, width, settings}) =>
    runtime.scorerInputs(int32(ids), int32(lengths), width, settings),
  resampledFrames: ({first, last, fps}) => resampledFrames(first, last, fps),

  /** decode + toRecognition on given log-probs (P, C). */
  async decode({logProbs, valid, classes, settings, maxGlosses, numFrames}) {
    const scorerCalls = [];
    const attentionScores = fakeScorer(settings, scorerCalls);
    const outputs = await decode(
      float32(logProbs), Uint8Array.from(valid), classes, settings, maxGlosses, attentionScores,
    );
    const recognition = toRecognition(outputs, settings, numFrames);
    return {outputs, scorerCalls, recognition};
  },

  /** toRecognition on decoder outputs made in Python (nbest null for greedy). */
  toRecognition({outputs, settings, numFrames}) {
    const {nbest} = outputs;
    const typed = {
      ...outputs,
      ids: int32(outputs.ids),
      spans: int32(outputs.spans),
      confidences: float32(outputs.confidences),
      nbest: nbest && {...nbest, ids: nbest.ids.map(int32), scores: float32(nbest.scores)},
    };
    return toRecognition(typed, settings, numFrames);
  },

  /** What model.js does with the encoder's outputs: logits (P, C) -> recognition. */
  recognize: ({logits, mask, classes, settings, numFrames}) => {
    const scorer = fakeScorer(settings, []);
    const valid = Uint8Array.from(mask);
    return runtime.recognizeLogits(float32(logits), valid, classes, settings, numFrames, scorer);
  },

  /** CameraTracks.totalFrames of camera frames at `times` (from 0 s), after forgetting the
   * frames no window from grid frame `forgetBefore` on reads. */
  cameraTotalFrames({settings, times, forgetBefore}) {
    const tracks = new CameraTracks(settings);
    for (const time of times) tracks.add(time, new Float32Array(tracks.handValues), [0, 0]);
    tracks.forgetBefore(forgetBefore);
    return tracks.totalFrames();
  },

  windowPlan({windowS, overlap, fps, lookaheadS = null}) {
    const plan = WindowPlan.fromSeconds(windowS, overlap, fps, lookaheadS);
    const boundaries = [1, 2, 3].map((index) => plan.boundary(index));
    const {window, hop, lookahead} = plan;
    return {window, hop, overlap: plan.overlap, lookahead, boundaries};
  },

  /** A stream fed in chunks: advance after each, then flush. */
  async stream({settings, chunks, signs, handless}) {
    const streamer = new StreamingRecognizer(settings, fakeWindows(settings, signs, handless));
    let framesSeen = 0;
    const steps = [];
    for (const chunk of chunks) {
      framesSeen += chunk;
      const added = await streamer.advance(framesSeen);
      steps.push({added, keepFrom: streamer.keepFrom});
    }
    const flushed = await streamer.flush(framesSeen);
    const afterFlush = await streamer.advance(framesSeen + streamer.plan.window);
    return {steps, flushed, afterFlush, committed: streamer.committed};
  },

  /** integrity.js on a file's bytes (hex: no text that parse() takes for NaN) and the
   * settings that record its SHA-256; the number of bytes it passes. */
  verifiedBytes: async ({file, hex, settings}) =>
    (await verifiedBytes(file, new Uint8Array(Buffer.from(hex, "hex")), settings)).length,

  /** One SlotAssigner over a sequence of frames' detections. */
  slots({settings, mirrored, frames}) {
    const assigner = new SlotAssigner(settings, mirrored);
    return frames.map((detections) => assigner.assign(detections));
  },
};

async function run(call) {
  const {op, ...args} = call;
  try {
    return {value: await OPERATIONS[op](args)};
  } catch (error) {
    return {error: error.message};
  }
}

const request = parse(readFileSync(0, "utf-8"));
const results = [];
for (const call of request.calls) results.push(await run(call));
process.stdout.write(stringify(results));
