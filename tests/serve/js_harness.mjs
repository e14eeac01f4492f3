// Runs the page's JavaScript ports on inputs made in Python: tests/serve/test_js_parity.py
// writes {calls: [{op, ...arguments}]} as JSON to stdin and reads one result per call
// (or {error}) from stdout. Non-finite numbers cross as the bare tokens Python's json reads
// and writes (-Infinity, Infinity, NaN).
import {readFileSync} from "node:fs";

import * as decoders from "../../whispersign_jax/serve/static/decoders.js";
import {SlotAssigner} from "../../whispersign_jax/serve/static/slots.js";
import {StreamingRecognizer, WindowPlan} from "../../whispersign_jax/serve/static/streaming.js";

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
    const padded = decoders.scorerInputs(ids, lengths, width, settings);
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
  logSoftmax: ({logits, classes}) => decoders.logSoftmax(float32(logits), classes),
  paddedFrames: ({settings, numFrames}) => decoders.paddedFrames(numFrames, settings),
  maxGlossesFor: ({settings, numFrames}) => decoders.maxGlossesFor(settings, numFrames),
  scorerInputs: ({ids, lengths, width, settings}) =>
    decoders.scorerInputs(int32(ids), int32(lengths), width, settings),

  /** decode + toRecognition on given log-probs (P, C). */
  async decode({logProbs, valid, classes, settings, maxGlosses, numFrames}) {
    const scorerCalls = [];
    const attentionScores = fakeScorer(settings, scorerCalls);
    const outputs = await decoders.decode(
      float32(logProbs), Uint8Array.from(valid), classes, settings, maxGlosses, attentionScores,
    );
    const recognition = decoders.toRecognition(outputs, settings, numFrames);
    return {outputs, scorerCalls, recognition};
  },

  /** What model.js does with the encoder's outputs: logits (P, C) -> recognition. */
  async recognize({logits, mask, classes, settings, numFrames}) {
    const outputs = await decoders.decode(
      decoders.logSoftmax(float32(logits), classes),
      Uint8Array.from(mask),
      classes,
      settings,
      decoders.maxGlossesFor(settings, numFrames),
      fakeScorer(settings, []),
    );
    return decoders.toRecognition(outputs, settings, numFrames);
  },

  windowPlan({windowS, overlap, fps}) {
    const plan = WindowPlan.fromSeconds(windowS, overlap, fps);
    const boundaries = [1, 2, 3].map((index) => plan.boundary(index));
    return {window: plan.window, hop: plan.hop, overlap: plan.overlap, boundaries};
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
