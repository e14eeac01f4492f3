// The page: a webcam or a video file -> MediaPipe hands (hands.js) -> camera tracks
// (camera_tracks.js) -> 3 s sliding windows merged as streaming.py merges them (streaming.js)
// -> features.onnx, encoder.onnx, decoders (model.js) -> glosses on screen.
//
// `window.whisperSign` is the page's handle for tests and the console: `startCamera()`,
// `startFile(url)`, `stop()`, `status`, and with `?record=1` in the address a `log` of every
// frame's tracks and every window's keypoints, logits and glosses.
import {CameraTracks} from "./camera_tracks.js";
import {HandTracker} from "./hands.js";
import {WebModel} from "./model.js";
import {drawHands} from "./overlay.js";
import {StreamingRecognizer} from "./streaming.js";

const RECORD = new URLSearchParams(location.search).has("record");
const $ = (id) => document.getElementById(id);

const page = {
  status: "loading",
  model: null,
  session: null, // the running stream
  log: {frames: [], windows: [], glosses: []},
};
window.whisperSign = page;

function setStatus(text) {
  page.status = text;
  $("status").textContent = text;
}

function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** One stream from one source: tracking, windows, glosses. */
class Session {
  constructor(model, hands, video) {
    this.model = model;
    this.settings = model.settings;
    this.hands = hands;
    this.video = video;
    this.tracks = new CameraTracks(this.settings);
    this.origin = null; // media time of the first frame
    this.ended = false;
    this.windowMs = [];
    this.trackMs = [];
    this.queue = Promise.resolve(); // windows run one after another, tracking goes on
    this.streamer = new StreamingRecognizer(this.settings, (start, end) =>
      this.recognizeWindow(start, end),
    );
  }

  /** Tracks the frame the video shows now (media time `timeS`) and queues any window it
   * completes. */
  onFrame(timeS) {
    if (this.origin === null) this.origin = timeS;
    const time = timeS - this.origin;
    if (time <= this.tracks.lastTime) return; // the same frame again
    const start = performance.now();
    const {positions, presence} = this.hands.track(this.video, timeS);
    const trackMs = performance.now() - start;
    this.trackMs.push(trackMs);
    this.tracks.add(time, positions, presence);
    if (RECORD) {
      page.log.frames.push({
        time, positions: Array.from(positions), presence: Array.from(presence), track_ms: trackMs,
      });
    }
    drawHands($("overlay"), positions, presence, this.settings);
    const seen = this.tracks.finalFrames() - this.settings.context_frames;
    this.queue = this.queue.then(async () => {
      if (this.ended) return; // finish() recognises the rest
      const glosses = await this.streamer.advance(seen);
      this.tracks.forgetBefore(this.streamer.keepFrom);
      this.show(glosses);
    });
  }

  async recognizeWindow(start, end) {
    const streamFrames = this.ended ? this.tracks.totalFrames() : Infinity;
    const inputs = this.tracks.windowInputs(start, streamFrames);
    const result = await this.model.recognizeWindow(inputs, end - start);
    if (RECORD) {
      page.log.windows.push({
        start, end, time_s: inputs.reference, validCount: end - start,
        hasHand: result !== null,
        keypoints: result ? Array.from(result.keypoints) : null,
        logits: result ? Array.from(result.logits) : null,
        glosses: result ? result.glosses : [],
        timings: result ? result.timings : null,
      });
    }
    if (result) {
      this.windowMs.push(result.timings.total_ms);
      const t = result.timings;
      $("latency").textContent =
        `last window ${t.total_ms} ms (features ${t.features_ms}, encoder ${t.encoder_ms}, ` +
        `decoder ${t.decode_ms}); median ${median(this.windowMs).toFixed(1)} ms over ` +
        `${this.windowMs.length} windows; hand tracking ${median(this.trackMs).toFixed(1)} ms/frame`;
    }
    return result;
  }

  show(glosses) {
    for (const gloss of glosses) {
      page.log.glosses.push(gloss);
      const item = document.createElement("li");
      const fps = this.settings.fps;
      item.innerHTML = `<b></b> <span></span>`;
      item.querySelector("b").textContent = gloss.name;
      item.querySelector("span").textContent =
        `${(gloss.start_frame / fps).toFixed(2)}–${(gloss.end_frame / fps).toFixed(2)} s, ` +
        `${Math.round(gloss.confidence * 100)}%`;
      $("glosses").appendChild(item);
    }
  }

  /** Ends the stream: waits for queued windows, then recognises the tail. */
  async finish() {
    this.ended = true;
    await this.queue;
    const total = this.tracks.totalFrames();
    this.show(await this.streamer.advance(total));
    this.show(await this.streamer.flush(total));
  }
}

async function startSession(video) {
  await stop();
  page.log = {frames: [], windows: [], glosses: []};
  $("glosses").replaceChildren();
  const hands = await HandTracker.create(page.model.settings, $("mirrored").checked);
  page.session = new Session(page.model, hands, video);
  return page.session;
}

function resizeOverlay(video) {
  $("overlay").width = video.videoWidth;
  $("overlay").height = video.videoHeight;
}

/** Live recognition from the webcam until `stop()`. */
async function startCamera() {
  const video = $("video");
  video.srcObject = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
  video.removeAttribute("src");
  await video.play();
  resizeOverlay(video);
  const session = await startSession(video);
  setStatus("recognising the camera");
  const onFrame = (now, metadata) => {
    if (page.session !== session || session.ended) return;
    session.onFrame(metadata.mediaTime);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

/** Recognises a video file frame by frame (the video pauses while a frame is tracked, so
 * none is skipped); resolves when its glosses are all shown. */
async function startFile(url) {
  const video = $("video");
  video.srcObject = null;
  video.src = url;
  video.muted = true;
  await new Promise((resolve, reject) => {
    video.onloadeddata = resolve;
    video.onerror = () => reject(new Error(`${url}: the browser cannot play this video`));
  });
  resizeOverlay(video);
  const session = await startSession(video);
  setStatus("recognising the video");
  await new Promise((resolve) => {
    const onFrame = (now, metadata) => {
      if (page.session !== session) return resolve();
      video.pause();
      session.onFrame(metadata.mediaTime);
      if (video.ended) return resolve();
      video.requestVideoFrameCallback(onFrame);
      video.play();
    };
    // The last frame's callback may come after "ended": wait for it a while.
    video.onended = () => setTimeout(resolve, 1000);
    video.requestVideoFrameCallback(onFrame);
    video.currentTime = 0; // presents the first frame again, now with its callback
  });
  await stop();
}

/** Stops the running stream and recognises what it has not yet recognised. */
async function stop() {
  const session = page.session;
  if (!session || session.ended) return;
  await session.finish();
  session.hands.close();
  const video = $("video");
  if (video.srcObject) video.srcObject.getTracks().forEach((track) => track.stop());
  setStatus(`done: ${page.log.glosses.length} glosses`);
}

async function main() {
  try {
    page.model = await WebModel.load();
    const s = page.model.settings;
    $("model").textContent =
      `${s.source.path.split("/").filter(Boolean).pop()} (${s.source.stage}, step ` +
      `${s.source.step}), a vocabulary of ${s.glosses.length} glosses, ` +
      `${s.window_frames / s.fps} s windows, decoder ${s.decoder}`;
    setStatus("ready");
  } catch (error) {
    $("model").textContent = "the model could not be loaded";
    setStatus(`error: ${error.message}`); // a file refused by its SHA-256 says which and why
    throw error;
  }
}

Object.assign(page, {startCamera, startFile, stop, ready: main()});

$("camera").onclick = () => startCamera().catch((e) => setStatus(`error: ${e.message}`));
$("stop").onclick = () => stop();
$("file").onchange = (event) => {
  const file = event.target.files[0];
  if (file) startFile(URL.createObjectURL(file)).catch((e) => setStatus(`error: ${e.message}`));
};
