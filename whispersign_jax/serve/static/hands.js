// MediaPipe's HandLandmarker (Tasks, WebAssembly) in VIDEO mode with two hands, its
// detections put in the two anatomical slots by slots.js (extraction/slots.py's rules), as
// the Python TasksBackend does (extraction/backends.py).
import {FilesetResolver, HandLandmarker} from "/vendor/tasks-vision/vision_bundle.mjs";

import {SlotAssigner} from "./slots.js";

export class HandTracker {
  constructor(landmarker, settings, mirrored) {
    this.landmarker = landmarker;
    this.settings = settings;
    this.slots = new SlotAssigner(settings, mirrored);
    this.lastMs = null;
  }

  /** The landmarker from the served wasm files and hand model. */
  static async create(settings, mirrored = false) {
    const fileset = await FilesetResolver.forVisionTasks("/vendor/tasks-vision/wasm");
    const landmarker = await HandLandmarker.createFromOptions(fileset, {
      baseOptions: {modelAssetPath: "/model/hand_landmarker.task", delegate: "CPU"},
      runningMode: "VIDEO",
      numHands: 2,
    });
    return new HandTracker(landmarker, settings, mirrored);
  }

  /** MediaPipe's VIDEO mode needs strictly increasing whole milliseconds
   * (extraction/tracker.py: FrameTracker._next_timestamp_ms). */
  nextTimestampMs(timeS) {
    let ms = Math.round(timeS * 1000);
    if (this.lastMs !== null && ms <= this.lastMs) ms = this.lastMs + 1;
    this.lastMs = ms;
    return ms;
  }

  /** Hands of the frame now shown by `source` (a video element): positions (2 * 21 * 3)
   * and presence (2) in anatomical slots. */
  track(source, timeS) {
    const result = this.landmarker.detectForVideo(source, this.nextTimestampMs(timeS));
    const detections = result.landmarks.map((points, i) => ({
      landmarks: points.map((p) => [p.x, p.y, p.z]),
      label: result.handedness[i][0].categoryName,
      score: result.handedness[i][0].score,
    }));
    return this.slots.assign(detections);
  }

  close() {
    this.landmarker.close();
  }
}
