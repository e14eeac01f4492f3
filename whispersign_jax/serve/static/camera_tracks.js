// The hand tracks of the camera frames seen so far, and the inputs of features.onnx for one
// window of the 60 FPS grid. The grid starts at the first camera frame (as
// extraction/tracks.py:resampling_times starts at the first timestamp); grid frame k is at
// t0 + k / fps. All numbers (fps, window, context, rows) come from whispersign_web.json.
import {resampledFrames} from "./tracks.js";

export class CameraTracks {
  /** @param {object} settings whispersign_web.json */
  constructor(settings) {
    this.fps = settings.fps;
    this.windowFrames = settings.window_frames;
    this.context = settings.context_frames;
    this.rows = settings.camera_frames;
    this.handValues = 2 * settings.joints_per_hand * 3; // (2 slots, 21 joints, xyz)
    this.times = []; // seconds since the first frame, increasing
    this.positions = []; // Float32Array(126) per frame
    this.presence = []; // Float32Array(2) per frame
    this.dropped = 0; // camera frames over the rows a window holds (cameras above 75 FPS)
  }

  get length() {
    return this.times.length;
  }

  get lastTime() {
    return this.times.length ? this.times[this.times.length - 1] : -Infinity;
  }

  /** Appends one frame; `time` in seconds since the first frame, strictly increasing. */
  add(time, positions, presence) {
    if (time <= this.lastTime) throw new Error(`camera frame at ${time} s after ${this.lastTime} s`);
    this.times.push(time);
    this.positions.push(positions);
    this.presence.push(presence);
  }

  /** Grid frames whose value no later camera frame can change: those before the last
   * camera frame (resampling reads the frames on both sides of a grid time). */
  finalFrames() {
    if (!this.length) return 0;
    return Math.ceil(this.lastTime * this.fps - 1e-9);
  }

  /** Grid frames of the whole stream once it has ended: extraction/tracks.py's count (times
   * count from the first frame, at 0 s, which forgetBefore may have dropped). */
  totalFrames() {
    if (!this.length) return 0;
    return resampledFrames(0, this.lastTime, this.fps);
  }

  /** features.onnx inputs for the window of grid frames [start, start + window) of a stream
   * of `streamFrames` grid frames, with one frame of context on each side. Times are
   * relative to the window's first frame (float32 keeps them exact enough). */
  windowInputs(start, streamFrames) {
    const grid = this.windowFrames + 2 * this.context;
    const reference = start / this.fps;
    const gridTimes = new Float32Array(grid);
    const gridValid = new Uint8Array(grid);
    for (let i = 0; i < grid; i++) {
      const frame = start - this.context + i;
      gridTimes[i] = (frame - start) / this.fps;
      gridValid[i] = frame >= 0 && frame < streamFrames ? 1 : 0;
    }
    // Camera frames from the last one at or before the first grid time to the first one
    // after the last grid time: every grid frame sees both of its neighbours.
    const first = reference + gridTimes[0];
    const last = reference + gridTimes[grid - 1];
    let from = 0;
    while (from + 1 < this.length && this.times[from + 1] <= first) from++;
    let to = from;
    while (to < this.length && this.times[to] <= last) to++;
    to = Math.min(to + 1, this.length);
    if (to - from > this.rows) {
      this.dropped += to - from - this.rows;
      to = from + this.rows;
    }
    const positions = new Float32Array(this.rows * this.handValues);
    const presence = new Float32Array(this.rows * 2);
    const times = new Float32Array(this.rows);
    for (let row = 0; row < this.rows; row++) {
      const index = from + row;
      if (index < to) {
        positions.set(this.positions[index], row * this.handValues);
        presence.set(this.presence[index], row * 2);
        times[row] = this.times[index] - reference;
      } else {
        times[row] = 1000 + row; // absent frames, later than any grid time
      }
    }
    const validFrames = gridValid.subarray(this.context, this.context + this.windowFrames);
    return {positions, presence, times, gridTimes, gridValid, validFrames, reference};
  }

  /** Forgets camera frames that no window from grid frame `start` on reads. */
  forgetBefore(start) {
    const first = (start - this.context) / this.fps;
    let keep = 0;
    while (keep + 1 < this.length && this.times[keep + 1] <= first) keep++;
    if (keep > 0) {
      this.times.splice(0, keep);
      this.positions.splice(0, keep);
      this.presence.splice(0, keep);
    }
  }
}
