// Live recognition's sliding windows, merged by emission time. Mirrors
// whispersign_jax/inference/streaming.py (WindowPlan, own_emissions, is_duplicate, StreamingRecognizer)
// for a page that keeps the frames itself: the recogniser is told how many frames the stream
// has and asks for windows by their [start, end) stream frames. Held to the Python by
// tests/serve/test_js_stream_parity.py.

/** Python's round() of a non-negative number: halves go to the even neighbour. */
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return fraction < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Window, hop, overlap and lookahead in frames (streaming.WindowPlan). */
export class WindowPlan {
  constructor(window, hop, lookahead) {
    this.window = window;
    this.hop = hop;
    this.lookahead = lookahead; // frames from the end of a window's own stretch to its end
  }

  /** `overlap` is the fraction of the window shared by consecutive windows, in [0, 1);
   * `lookaheadS` lies in [0, the overlap in seconds] (null: half the overlap). */
  static fromSeconds(windowS, overlap, fps, lookaheadS = null) {
    if (!(windowS > 0)) throw new Error(`window_s must be positive, got ${windowS}.`);
    if (!(overlap >= 0 && overlap < 1)) {
      throw new Error(`overlap must be a fraction in [0, 1), got ${overlap}.`);
    }
    const window = Math.max(1, roundHalfEven(windowS * fps));
    const hop = Math.max(1, roundHalfEven(window * (1.0 - overlap)));
    const shared = window - hop;
    if (lookaheadS === null || lookaheadS === undefined) {
      return new WindowPlan(window, hop, shared - Math.floor(shared / 2));
    }
    const lookahead = roundHalfEven(lookaheadS * fps);
    if (!(lookahead >= 0 && lookahead <= shared)) {
      throw new Error(`lookahead_s must lie in [0, ${shared / fps}] s, got ${lookaheadS}.`);
    }
    return new WindowPlan(window, hop, lookahead);
  }

  get overlap() {
    return this.window - this.hop;
  }

  /** First frame owned by window `index` (>= 1): `lookahead` before the end of the previous
   * window (by default the middle of their overlap). */
  boundary(index) {
    return index * this.hop + this.overlap - this.lookahead;
  }
}

/** When a gloss was emitted: the middle of its span, in frames. */
function emissionFrame(gloss) {
  return 0.5 * (gloss.start_frame + gloss.end_frame);
}

/** The glosses (stream frames) whose emission frame lies in [lower, upper) (own_emissions). */
export function ownEmissions(glosses, lower, upper) {
  return glosses.filter((g) => lower <= emissionFrame(g) && emissionFrame(g) < upper);
}

/** The same gloss, emitted by another window less than `frames` away (is_duplicate). */
export function isDuplicate(gloss, committed, frames) {
  const centre = emissionFrame(gloss);
  return committed
    .slice(-4)
    .some((c) => c.id === gloss.id && Math.abs(emissionFrame(c) - centre) < frames);
}

/** A window's gloss moved to stream frames, with the fields a committed gloss keeps. */
function shifted(gloss, frames) {
  const {id, name, confidence} = gloss;
  const start = gloss.start_frame + frames;
  return {id, name, confidence, start_frame: start, end_frame: gloss.end_frame + frames};
}

/** streaming.StreamingRecognizer over frames the caller keeps. `recognizeWindow(start, end)`
 * -> Promise of {glosses} in window frames (as toRecognition gives them), or null when the
 * window has no hand. advance and flush run one after another in call order, so a caller
 * need not await one before the next. Settings: whispersign_web.json (fps, stream). */
export class StreamingRecognizer {
  constructor(settings, recognizeWindow) {
    const stream = settings.stream;
    this.recognizeWindow = recognizeWindow;
    this.plan = WindowPlan.fromSeconds(
      stream.window_s,
      stream.overlap,
      settings.fps,
      stream.lookahead_s ?? null,
    );
    this.minConfidence = stream.min_confidence;
    this.dedupeFrames = stream.dedupe_s * settings.fps;
    this.bufferStart = 0; // streaming.py's buffer_start: frames before it are never read
    this.nextWindow = 0;
    this.committed = [];
    this.pending = Promise.resolve(); // the last queued advance or flush
  }

  /** The stream now has `framesSeen` frames (push): recognises every window they complete,
   * in order; resolves to the newly committed glosses (stream frames). */
  advance(framesSeen) {
    return this.queued(async () => {
      const plan = this.plan;
      const added = [];
      while (framesSeen >= this.nextWindow * plan.hop + plan.window) {
        const start = this.nextWindow * plan.hop;
        const upper = plan.boundary(this.nextWindow + 1);
        added.push(...(await this.commit(start, start + plan.window, upper)));
        this.nextWindow += 1;
        this.trim(framesSeen);
      }
      return added;
    });
  }

  /** The stream ended after `framesSeen` frames (flush): recognises its last window and
   * commits everything not yet owned; nothing commits afterwards. */
  flush(framesSeen) {
    return this.queued(async () => {
      if (framesSeen === 0) return [];
      const start = Math.max(this.bufferStart, framesSeen - this.plan.window);
      const added = await this.commit(start, framesSeen, Infinity);
      this.nextWindow = Infinity;
      return added;
    });
  }

  /** The first stream frame any later window or flush can read: streaming.py's
   * buffer_start, which moves only when a window runs (by _trim's rule) and never back. */
  get keepFrom() {
    return this.bufferStart;
  }

  /** Runs `task` after every advance or flush queued before it. */
  queued(task) {
    const result = this.pending.then(task);
    this.pending = result.catch(() => {});
    return result;
  }

  /** Forgets frames that neither the next window nor a final flush reads (_trim). */
  trim(framesSeen) {
    const keepFrom = Math.min(this.nextWindow * this.plan.hop, framesSeen - this.plan.window);
    this.bufferStart = Math.max(this.bufferStart, keepFrom);
  }

  /** Commits the glosses of window [start, end) that it owns below `upper` (_commit). */
  async commit(start, end, upper) {
    // Reach back by the dedupe distance across the boundary; never before the last commit.
    let lower = -Infinity;
    if (this.nextWindow > 0) lower = this.plan.boundary(this.nextWindow) - this.dedupeFrames;
    if (this.committed.length) {
      lower = Math.max(lower, emissionFrame(this.committed[this.committed.length - 1]) + 1);
    }
    const recognition = await this.recognizeWindow(start, end);
    if (recognition === null) return []; // nobody signing: nothing to recognise
    const glosses = recognition.glosses.map((gloss) => shifted(gloss, start));
    const added = [];
    for (const gloss of ownEmissions(glosses, lower, upper)) {
      if (gloss.confidence < this.minConfidence) continue;
      if (isDuplicate(gloss, this.committed, this.dedupeFrames)) continue;
      this.committed.push(gloss);
      added.push(gloss);
    }
    return added;
  }
}
