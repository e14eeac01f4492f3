// The exported recogniser in ONNX Runtime Web: features.onnx (camera tracks -> the window's
// keypoints and model input), encoder.onnx (-> CTC logits) and scorer.onnx (attention
// rescoring), decoded as ExportedRecognizer.recognize decodes (runtime.js). Settings:
// whispersign_web.json, which also holds each file's SHA-256, checked before a session opens
// it (integrity.js).
import * as ort from "/vendor/onnxruntime-web/dist/ort.wasm.min.mjs";

import {fetchVerified} from "./integrity.js";
import {recognizeLogits, scorerInputs} from "./runtime.js";

const MODEL = "/model/";

/** Milliseconds since `start`, rounded to 0.1. */
function since(start) {
  return Math.round((performance.now() - start) * 10) / 10;
}

export class WebModel {
  constructor(settings, sessions) {
    this.settings = settings;
    this.sessions = sessions;
  }

  /** Loads the settings and the three models, each once its SHA-256 is checked. */
  static async load() {
    const response = await fetch(`${MODEL}whispersign_web.json`);
    if (!response.ok) throw new Error(`${MODEL}whispersign_web.json: HTTP ${response.status}`);
    const settings = await response.json();
    ort.env.wasm.numThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
    const sessions = {};
    for (const [name, file] of Object.entries(settings.files)) {
      const bytes = await fetchVerified(MODEL, file, settings);
      sessions[name] = await ort.InferenceSession.create(bytes, {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
    }
    return new WebModel(settings, sessions);
  }

  /** The window's keypoints (W, 42, 7) and model input from CameraTracks.windowInputs. */
  async features(inputs) {
    const s = this.settings;
    const rows = s.camera_frames;
    const grid = inputs.gridTimes.length;
    const feeds = {
      positions: new ort.Tensor("float32", inputs.positions, [rows, 2, s.joints_per_hand, 3]),
      presence: new ort.Tensor("float32", inputs.presence, [rows, 2]),
      times: new ort.Tensor("float32", inputs.times, [rows]),
      grid_times: new ort.Tensor("float32", inputs.gridTimes, [grid]),
      grid_valid: new ort.Tensor("bool", inputs.gridValid, [grid]),
    };
    const out = await this.sessions.features.run(feeds);
    return {keypoints: out.keypoints.data, features: out.features.data};
  }

  /** True when some frame of the (W, 42, 7) keypoints has a hand (keypoints.has_hand). */
  hasHand(keypoints) {
    const s = this.settings;
    for (let i = s.confidence_feature; i < keypoints.length; i += s.num_features) {
      if (keypoints[i] > 0) return true;
    }
    return false;
  }

  /** CTC logits (P, C) and the encoder's outputs for the scorer. */
  async encode(features, validFrames) {
    const s = this.settings;
    const frames = s.window_frames;
    const out = await this.sessions.encoder.run({
      keypoints: new ort.Tensor("float32", features, [1, frames, s.num_joints, s.num_features]),
      frame_mask: new ort.Tensor("bool", validFrames, [1, frames]),
    });
    return out;
  }

  /** log p_attention of each hypothesis (K,): ids (K, L) and lengths (K,) int32, padded to
   * the exported scorer's fixed shape as ExportedModel.score pads them. */
  async score(ids, lengths, width, encoded) {
    const s = this.settings;
    const padded = scorerInputs(ids, lengths, width, s);
    const rows = padded.lengths.length;
    const out = await this.sessions.scorer.run({
      ids: new ort.Tensor("int32", padded.ids, [rows, padded.length]),
      lengths: new ort.Tensor("int32", padded.lengths, [rows]),
      encoder_out: encoded.encoder_out,
      encoder_mask: encoded.encoder_mask,
    });
    return out.log_likelihoods.data.slice(0, lengths.length);
  }

  /** Recognises one window of `numFrames` stream frames (ExportedRecognizer.recognize):
   * null when no frame has a hand (streaming.py skips those). Returns its glosses (window
   * frames), its timings in ms and what the tests compare (keypoints, logits). */
  async recognizeWindow(inputs, numFrames) {
    const s = this.settings;
    const start = performance.now();
    const {keypoints, features} = await this.features(inputs);
    const timings = {features_ms: since(start)};
    if (!this.hasHand(keypoints)) return null;
    const encodeStart = performance.now();
    const encoded = await this.encode(features, inputs.validFrames);
    timings.encoder_ms = since(encodeStart);
    const decodeStart = performance.now();
    const logits = encoded.ctc_logits; // (1, P, C)
    const classes = logits.dims[2];
    const recognition = await recognizeLogits(
      logits.data,
      encoded.encoder_mask.data,
      classes,
      s,
      numFrames,
      (ids, lengths, width) => this.score(ids, lengths, width, encoded),
    );
    timings.decode_ms = since(decodeStart);
    timings.total_ms = since(start);
    return {...recognition, timings, keypoints, logits: logits.data};
  }
}
