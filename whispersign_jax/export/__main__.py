"""Export a trained model for devices: TFLite, SavedModel or ONNX, with its metadata.

    python -m whispersign_jax.export --workdir=runs/demo --format=tflite --out=exports/demo
        [--dtype=float32|float16|int8] [--stage=stage3] [--window_s=3] [--beam_size=8]

``--out`` is a folder: ``encoder.<ext>`` (keypoints -> CTC logits: the recogniser),
``scorer.<ext>`` (the attention decoder, for attention rescoring) and
``whispersign_export.json`` (label map, preprocessing, joint set, shapes). TFLite and ONNX
take a fixed window of ``--window_s`` (the streaming window) and score ``--beam_size``
hypotheses; a SavedModel takes any length. ``float16`` stores float16 weights, ``int8``
quantises weights to int8 (dynamic range; activations stay float). Run the export with
``python -m whispersign_jax.export.run --model=exports/demo --keypoints=clip.npy``
(docs/export.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app, flags, logging

from whispersign_jax import cli, streaming
from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.export.bundle import EXPORT_DTYPES, FORMATS

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "Training workdir or checkpoint folder.", required=True)
    flags.DEFINE_enum("format", None, FORMATS, "Export format.", required=True)
    flags.DEFINE_string("out", None, "Output folder (created).", required=True)
    flags.DEFINE_enum("dtype", "float32", EXPORT_DTYPES, "Stored weights (tflite, onnx).")
    flags.DEFINE_string("stage", "", "Stage whose best checkpoint to export (default: the last).")
    flags.DEFINE_float("window_s", streaming.DEFAULT_WINDOW_S, "Fixed input window, seconds.")
    flags.DEFINE_integer(
        "beam_size", DecodeOptions().beam_size, "Hypotheses the fixed-shape scorer takes."
    )


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from whispersign_jax.export.convert import export_model

    bundle = export_model(
        FLAGS.workdir,
        FLAGS.out,
        FLAGS.format,
        FLAGS.dtype,
        FLAGS.stage or None,
        window_s=FLAGS.window_s,
        options=DecodeOptions(beam_size=FLAGS.beam_size),
    )
    shape = f"{bundle.window_frames} frames" if bundle.window_frames else "any length"
    print(
        f"{FLAGS.out}: {bundle.format} {bundle.dtype} export of {bundle.source['stage']} step "
        f"{bundle.source['step']} ({shape}, {len(bundle.label_map) - 1} glosses)"
    )


def run() -> None:
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
