"""Recognise glosses in a keypoint file with an exported model, without JAX.

    python -m whispersign_jax.export.run --model=exports/demo-tflite --keypoints=clip.npy
        [--decoder=NAME] [--beam_size=N] [--ctc_weight=W] [--json] [--stream] [--threads=N]

``--model`` is the folder ``python -m whispersign_jax.export`` wrote (or a model file in it).
It prints what ``python -m whispersign_jax.recognize`` prints for the same keypoints and
model; decoders: ctc_greedy, ctc_prefix_beam, attention_rescoring (the default). A clip longer
than a fixed-window export's input (3 s) is recognised with ``--stream``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from absl import app, flags

from whispersign_jax import cli, keypoints
from whispersign_jax.decoding import flags as decode_flags
from whispersign_jax.decoding.options import RUNTIME_DECODERS
from whispersign_jax.decoding.result import describe, format_recognition
from whispersign_jax.errors import one_line_errors
from whispersign_jax.export.runtime import ExportedRecognizer
from whispersign_jax.inference import streaming

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model", None, "Export folder (or a model file in it).", required=True)
    flags.DEFINE_string("keypoints", None, "A (T, J, 7) keypoint .npy file.", required=True)
    decode_flags.define_decode_flags(RUNTIME_DECODERS)  # help lists only what runs
    flags.adopt_module_key_flags(decode_flags)
    flags.DEFINE_bool("json", False, "Print JSON (one object, or one line per streamed gloss).")
    flags.DEFINE_bool("stream", False, "Recognise the file with the sliding-window recogniser.")
    flags.DEFINE_integer("threads", 0, "CPU threads of the runtime (0: all available cores).")


@one_line_errors
def run_command(args) -> None:
    """The command line's work; ``args`` has the flags as attributes."""
    recognizer = ExportedRecognizer.load(
        args.model, args.threads or None, **vars(decode_flags.decode_options(args))
    )
    clip = keypoints.load_keypoint_file(args.keypoints)
    if args.stream:
        streamer = streaming.StreamingRecognizer(recognizer)
        for gloss in streamer.push(clip) + streamer.flush():
            print(json.dumps(gloss.to_dict()) if args.json else describe(gloss))
        return
    recognition = recognizer.recognize(clip, args.keypoints)
    print(format_recognition(args.keypoints, len(clip), recognition, args.json))


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    run_command(FLAGS)


def run() -> None:
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
