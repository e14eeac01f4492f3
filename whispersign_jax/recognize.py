"""Recognise glosses in a keypoint file, a video or a camera stream with a trained model.

    whispersign-recognize --workdir=runs/demo --keypoints=clip.npy [--json]
    whispersign-recognize --workdir=runs/demo --video=clip.mp4 [--stream --realtime]
    whispersign-recognize --workdir=runs/demo --camera=0
        [--decoder=NAME] [--beam_size=N] [--ctc_weight=W] [--stage=stage3]

(or ``python -m whispersign_jax.recognize``). ``--workdir`` takes a training workdir, a
checkpoint folder (``.../checkpoints/best``), a model folder (``whispersign-export
--format=model``) or the Hugging Face hub id of one; the label map and preprocessing travel
with the checkpoint. A keypoint file or video is decoded whole (``--stream`` replays it through the
sliding-window recogniser instead, ``--realtime`` at its real frame rate); the camera always
streams. Videos need MediaPipe and OpenCV (``whispersign_jax.extract``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from absl import app, flags, logging

from whispersign_jax import cli, compile_cache, decoding, flag_names, keypoints, streaming
from whispersign_jax.decoding import DecodeOptions, Recognition, RecognizedGloss
from whispersign_jax.decoding import flags as decode_flags
from whispersign_jax.decoding.inputs import checked_clip, padded_batch
from whispersign_jax.decoding.options import padded_frames
from whispersign_jax.decoding.result import describe, format_recognition
from whispersign_jax.errors import one_line_errors

if TYPE_CHECKING:
    from whispersign_jax.trained import TrainedModel

# JAX and the model load inside the functions that use them, so that --help answers at once.

CAMERA_CHUNK_S = 0.25  # camera frames are resampled to 60 FPS in chunks of this length


class Recognizer:
    """A trained model plus a decoder: ``recognize(keypoints (T, J, 7)) -> Recognition``, with
    J the joints of the model's joint set (``TrainedModel.joint_set``)."""

    def __init__(self, model: TrainedModel, options: DecodeOptions | None = None):
        self.trained = model
        self.options = options = options or DecodeOptions()
        self._decode = decoding.make_decode_fn(model.model, options)

    @classmethod
    def load(
        cls, path: str | Path, stage: str | None = None, dtype: str | None = None, **options
    ) -> Recognizer:
        """From a workdir or checkpoint folder; ``dtype`` overrides the compute dtype;
        ``options`` are DecodeOptions fields."""
        from whispersign_jax import trained

        return cls(trained.load(path, stage, dtype), DecodeOptions(**options))

    @property
    def max_frames(self) -> int:
        config = self.trained.model.config
        return config.max_source_positions * config.patch_size

    def recognize(self, clip: np.ndarray, source: str = "keypoints") -> Recognition:
        """Glosses of one clip of raw keypoints (preprocessing is applied here); keypoints of
        another joint set than the model's are refused, naming both."""
        joint_set = self.trained.joint_set
        model = f"the model (config.data.keypoints={joint_set})"
        advice = "recognise it as a stream (--stream) instead"
        clip = checked_clip(clip, source, joint_set, model, self.max_frames, advice)
        clip = self.trained.preprocessor(clip)
        batch, frame_mask = padded_batch(clip, padded_frames(len(clip), self.max_frames))
        import jax

        outputs = jax.device_get(self._decode(self.trained.variables, batch, frame_mask))
        return decoding.to_recognitions(
            outputs,
            self.trained.vocabulary,
            self.options.decoder,
            self.trained.model.config.patch_size,
            np.array([len(clip)]),
        )[0]

    def streaming(self, **kwargs) -> streaming.StreamingRecognizer:
        """A sliding-window recogniser on this model (``streaming.StreamingRecognizer``)."""
        return streaming.StreamingRecognizer(self, **kwargs)


@dataclasses.dataclass(frozen=True)
class ExtractorSettings:
    """How videos and camera frames become keypoints: the model's joint set and the
    extractor's flags."""

    keypoints: str = keypoints.DEFAULT_JOINT_SET
    backend: str = "auto"
    mirrored: bool = False
    model_path: str | None = None
    pose_model_path: str | None = None
    face_model_path: str | None = None

    def open_tracker(self):
        from whispersign_jax.extract import open_tracker

        return open_tracker(**dataclasses.asdict(self))


def load_video(path: str | Path, settings: ExtractorSettings) -> np.ndarray:
    """Keypoints of a video through the MediaPipe extractor."""
    from whispersign_jax.extract import extract_keypoints

    return extract_keypoints(path, **dataclasses.asdict(settings))


def replay(clip: np.ndarray, realtime: bool, chunk: int = 4) -> Iterator[np.ndarray]:
    """Frames of a clip in small chunks, paced at 60 FPS when ``realtime``."""
    start = time.perf_counter()
    for first in range(0, len(clip), chunk):
        if realtime:
            time.sleep(max(0.0, start + first / keypoints.FPS - time.perf_counter()))
        yield clip[first : first + chunk]


def camera_chunks(index: int, settings: ExtractorSettings) -> Iterator[np.ndarray]:
    """Live ``(n, J, 7)`` keypoints from a webcam (OpenCV), resampled to 60 FPS in short
    chunks; each chunk starts at the previous chunk's last camera frame, so the 60 FPS grid
    restarts every ``CAMERA_CHUNK_S`` (a sub-frame jitter). Not verified on these machines
    (no camera, no OpenCV)."""
    import cv2

    from whispersign_jax.extraction.tracks import tracks_to_keypoints

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise OSError(f"--camera={index}: cannot open the camera; check the device index.")
    origin = time.perf_counter()
    positions, presence, times = [], [], []
    try:
        with settings.open_tracker() as tracker:
            while True:
                ok, frame_bgr = capture.read()
                if not ok:
                    return
                now = time.perf_counter() - origin
                frame_positions, frame_presence = tracker.track(
                    cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), now
                )
                positions.append(frame_positions)
                presence.append(frame_presence)
                times.append(now)
                if len(times) >= 2 and times[-1] - times[0] >= CAMERA_CHUNK_S:
                    chunk = tracks_to_keypoints(
                        np.stack(positions), np.stack(presence), np.asarray(times)
                    )
                    yield chunk[:-1]  # the last frame starts the next chunk
                    positions, presence, times = positions[-1:], presence[-1:], times[-1:]
    finally:
        capture.release()


def run_stream(
    recognizer: Recognizer, chunks: Iterator[np.ndarray], as_json: bool, **kwargs
) -> list[RecognizedGloss]:
    """Prints glosses as the stream commits them; Ctrl-C ends the stream cleanly."""
    streamer = recognizer.streaming(**kwargs)
    emitted = []

    def show(glosses: list[RecognizedGloss]) -> None:
        for gloss in glosses:
            print(json.dumps(gloss.to_dict()) if as_json else describe(gloss), flush=True)
        emitted.extend(glosses)

    try:
        for chunk in chunks:
            show(streamer.push(chunk))
    except KeyboardInterrupt:
        pass
    show(streamer.flush())
    return emitted


@one_line_errors
def run_command(args) -> None:
    """The command line's work; ``args`` has the flags as attributes (absl FLAGS in use)."""
    sources = [args.keypoints, args.video, args.camera is not None]
    if sum(bool(s) for s in sources) != 1:
        raise SystemExit("Pass exactly one of --keypoints=F.npy, --video=F.mp4, --camera=INDEX.")
    from whispersign_jax import trained

    recognizer = Recognizer(
        trained.load(args.workdir, args.stage or None, args.dtype or None),
        decode_flags.decode_options(args),
    )
    stream_options = dict(
        window_s=args.window_s, overlap=args.overlap, min_confidence=args.min_confidence
    )
    extractor = ExtractorSettings(
        recognizer.trained.joint_set,  # the extractor gives the joints the model takes
        args.backend,
        args.mirrored,
        args.hand_model or None,
        args.pose_model or None,
        args.face_model or None,
    )
    if args.camera is not None:
        run_stream(recognizer, camera_chunks(args.camera, extractor), args.json,
                   **stream_options)  # fmt: skip
        return
    source = args.keypoints or args.video
    clip = keypoints.load_keypoint_file(source) if args.keypoints else load_video(source, extractor)
    if args.stream or args.realtime:
        run_stream(recognizer, replay(clip, args.realtime), args.json, **stream_options)
        return
    recognition = recognizer.recognize(clip, source)
    print(format_recognition(source, len(clip), recognition, args.json))


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags (defined by ``run``, like ``evaluate``'s, not on import)."""
    flags.DEFINE_string(
        "workdir",
        None,
        "Training workdir, checkpoint folder, model folder or its hub id.",
        required=True,
    )
    flags.DEFINE_string("stage", "", "Stage whose best checkpoint to use (default: the last).")
    flags.DEFINE_string("keypoints", "", "A (T, J, 7) keypoint .npy file (the model's joints).")
    flags.DEFINE_string("video", "", "A video file (needs MediaPipe and OpenCV).")
    flags.DEFINE_integer("camera", None, "Webcam index for live recognition (OpenCV).")
    decode_flags.define_decode_flags()
    flags.adopt_module_key_flags(decode_flags)  # listed by --help
    flags.DEFINE_string("dtype", "", "Compute dtype override: float32 or bfloat16.")
    flags.DEFINE_bool("json", False, "Print JSON (one object, or one line per streamed gloss).")
    flags.DEFINE_bool("stream", False, "Recognise the file with the sliding-window recogniser.")
    flags.DEFINE_bool("realtime", False, "Replay the file as a live stream at 60 FPS.")
    flags.DEFINE_float("window_s", streaming.DEFAULT_WINDOW_S, "Streaming window, seconds.")
    flags.DEFINE_float("overlap", streaming.DEFAULT_OVERLAP, "Window overlap, fraction.")
    flags.DEFINE_float(
        "min_confidence",
        streaming.DEFAULT_MIN_CONFIDENCE,
        "Streaming: drop glosses below this confidence.",
    )
    flags.DEFINE_string("backend", "auto", "Extraction backend: auto, tasks or legacy.")
    flags.DEFINE_bool("mirrored", False, "The video or camera image is mirrored (selfie).")
    flags.DEFINE_string("hand_model", "", "MediaPipe hand_landmarker.task for the Tasks backend.")
    flags.DEFINE_string(
        "pose_model", "", "pose_landmarker_full.task for the Tasks backend (models with pose)."
    )
    flags.DEFINE_string(
        "face_model", "", "face_landmarker.task for the Tasks backend (models with lips)."
    )
    flag_names.define_absl_old_names(*flag_names.MEDIAPIPE_MODELS)


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    compile_cache.enable()  # $WHISPERSIGN_COMPILE_CACHE, "" = off
    logging.set_verbosity(logging.WARNING)  # checkpoint loading is chatty at INFO
    run_command(FLAGS)


def run() -> None:
    """The ``whispersign-recognize`` console script."""
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
