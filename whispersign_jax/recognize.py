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
streams. Videos need MediaPipe and OpenCV (``whispersign_jax.extraction``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np
from absl import app, flags, logging

from whispersign_jax import cli, keypoints
from whispersign_jax.cli import compile_cache, flag_names
from whispersign_jax.decoding import RecognizedGloss
from whispersign_jax.decoding import flags as decode_flags
from whispersign_jax.decoding.result import describe, format_recognition
from whispersign_jax.errors import one_line_errors
from whispersign_jax.extraction.tracker import TrackerSettings
from whispersign_jax.inference import streaming
from whispersign_jax.inference.recognizer import Recognizer
from whispersign_jax.inference.sources import camera_chunks, load_video, replay


def run_stream(
    recognizer: Recognizer, chunks: Iterator[np.ndarray], as_json: bool, **kwargs
) -> list[RecognizedGloss]:
    """Prints glosses as the stream commits them; Ctrl-C ends the stream cleanly."""
    streamer = recognizer.streaming(**kwargs)
    emitted = []

    def show(glosses: list[RecognizedGloss]) -> None:
        for gloss in glosses:
            shown = json.dumps(gloss.to_dict(), allow_nan=False) if as_json else describe(gloss)
            print(shown, flush=True)
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
    from whispersign_jax.runs import trained

    recognizer = Recognizer(
        trained.load(args.workdir, args.stage or None, args.dtype or None),
        decode_flags.decode_options(args),
    )
    stream_options = dict(
        window_s=args.window_s, overlap=args.overlap, min_confidence=args.min_confidence,
        lookahead_s=args.lookahead_s,
    )  # fmt: skip
    extractor = TrackerSettings(
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
        "lookahead_s",
        streaming.DEFAULT_LOOKAHEAD_S,
        "Streaming: seconds a window sees after the glosses it emits, in [0, the overlap] "
        "(default half the overlap); shorter emits sooner.",
    )
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
