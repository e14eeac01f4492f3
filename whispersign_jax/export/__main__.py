"""Export a trained model for devices (TFLite, SavedModel, ONNX) or as a folder to share.

    python -m whispersign_jax.export --workdir=runs/demo --format=tflite --out=exports/demo
        [--weights_dtype=float32|float16|int8] [--stage=stage3] [--window_s=3] [--beam_size=8]
    python -m whispersign_jax.export --workdir=runs/demo --format=model --out=models/demo
        [--push_to_hub=USER/NAME]

``--format=model`` writes a self-contained model folder (``model_folder.py``: safetensors
weights, settings, a model card) that ``recognize``, ``export``, ``serve`` and
``trained.load`` take as ``--workdir``, from disk or by hub id after ``--push_to_hub``.
For the device formats ``--out`` is a folder: ``encoder.<ext>`` (keypoints -> CTC logits:
the recogniser), ``scorer.<ext>`` (the attention decoder, for attention rescoring) and
``whispersign_export.json`` (label map, preprocessing, joint set, shapes, the SHA-256 of each
model file, checked before a runtime opens it). TFLite and ONNX take a fixed window of
``--window_s`` (the streaming window) and score ``--beam_size`` hypotheses; a SavedModel
takes any length. ``float16`` stores float16 weights, ``int8`` quantises weights to int8
(dynamic range; activations stay float). Run the export with ``python -m
whispersign_jax.export.run --model=exports/demo --keypoints=clip.npy`` (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app, flags, logging

from whispersign_jax import cli
from whispersign_jax.cli import flag_names
from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.export.bundle import EXPORT_DTYPES, FORMATS
from whispersign_jax.inference import streaming

FLAGS = flags.FLAGS
MODEL_FORMAT = "model"  # model_folder.py: a folder to share, not a device export


def define_flags() -> None:
    flags.DEFINE_string(
        "workdir",
        None,
        "Training workdir, checkpoint folder, model folder or its hub id.",
        required=True,
    )
    flags.DEFINE_enum(
        "format",
        None,
        (*FORMATS, MODEL_FORMAT),
        "Export format; 'model': a model folder to share (safetensors, settings, model card).",
        required=True,
    )
    flags.DEFINE_string(
        "push_to_hub", "", "With --format=model: upload the folder to this Hugging Face repo."
    )
    flags.DEFINE_string("out", None, "Output folder (created).", required=True)
    flags.DEFINE_enum("weights_dtype", "float32", EXPORT_DTYPES, "Stored weights (tflite, onnx).")
    flag_names.define_absl_old_names("dtype")
    flags.DEFINE_string("stage", "", "Stage whose best checkpoint to export (default: the last).")
    flags.DEFINE_float("window_s", streaming.DEFAULT_WINDOW_S, "Fixed input window, seconds.")
    flags.DEFINE_integer(
        "beam_size", DecodeOptions().beam_size, "Hypotheses the fixed-shape scorer takes."
    )


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    if FLAGS.format == MODEL_FORMAT:
        share_model_folder()
        return
    if FLAGS.push_to_hub:
        raise app.UsageError("--push_to_hub uploads model folders: pass --format=model.")
    from whispersign_jax.export.convert import export_model

    bundle = export_model(
        FLAGS.workdir,
        FLAGS.out,
        FLAGS.format,
        FLAGS.weights_dtype,
        FLAGS.stage or None,
        window_s=FLAGS.window_s,
        options=DecodeOptions(beam_size=FLAGS.beam_size),
    )
    shape = f"{bundle.window_frames} frames" if bundle.window_frames else "any length"
    print(
        f"{FLAGS.out}: {bundle.format} {bundle.dtype} export of {bundle.source['stage']} step "
        f"{bundle.source['step']} ({shape}, {len(bundle.label_map) - 1} glosses)"
    )


def share_model_folder() -> None:
    """``--format=model``: the model folder, and its upload with ``--push_to_hub``."""
    from whispersign_jax.runs import model_folder, trained

    model = trained.load(FLAGS.workdir, FLAGS.stage or None, dtype="float32")
    folder = model_folder.write_trained(model, FLAGS.workdir, FLAGS.out)
    values = model_folder.read_settings(folder)
    print(
        f"{folder}: model folder of {values['stage']} step {values['step']} "
        f"({len(values['label_map']) - 1} glosses): {', '.join(model_folder.FILES)}"
    )
    if FLAGS.push_to_hub:
        url = model_folder.push(folder, FLAGS.push_to_hub)
        print(f"uploaded to {url}; load it with --workdir={FLAGS.push_to_hub}")


def run() -> None:
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
