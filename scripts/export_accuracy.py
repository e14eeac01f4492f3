"""Accuracy of exported models on a workdir's split, beside the JAX recogniser's: what float16
and int8 weights cost. Prints a table, and with ``--json`` one JSON object on the last line.

    python scripts/export_accuracy.py --workdir=runs/demo [--split=test] [--json]
        [--exports=tflite:float32,tflite:int8,...] [--decoder=attention_rescoring]

Each export is written to a temporary folder from the workdir's best checkpoint, then every
clip of the split is recognised through it with the JAX-free runtime. Keys per export:
``<format>.<dtype>.accuracy`` (gloss sequence equal to the labels), ``.agreement`` (equal to
the JAX recogniser's), ``.clips``. Fixed-window exports (TFLite, ONNX) recognise clips longer
than their window with the sliding-window recogniser (``streaming``), as ``--stream`` does.
"""

from __future__ import annotations

import argparse
import tempfile

from whispersign_jax import recognize
from whispersign_jax.cli import strict_json
from whispersign_jax.data.sources import load_splits
from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.export import convert, runtime
from whispersign_jax.inference import streaming

DEFAULT_EXPORTS = (
    "tflite:float32,tflite:float16,tflite:int8,onnx:float32,onnx:float16,onnx:int8,"
    "saved_model:float32"
)


def recognized_ids(recognizer, clip) -> list[int]:
    """Gloss ids of a whole clip; a stream of windows when the clip exceeds the input."""
    if len(clip) <= recognizer.max_frames:
        return recognizer.recognize(clip).ids
    stream = streaming.StreamingRecognizer(recognizer)
    return [gloss.id for gloss in stream.push(clip) + stream.flush()]


def export_accuracies(
    workdir: str, split: str = "test", exports: str = DEFAULT_EXPORTS, decoder: str = ""
) -> dict:
    """The table's keys for ``exports`` (``format:dtype,...``) on ``split`` of ``workdir``."""
    options = DecodeOptions(decoder=decoder) if decoder else DecodeOptions()
    jax_recognizer = recognize.Recognizer.load(workdir, dtype="float32", decoder=options.decoder)
    _, splits = load_splits(jax_recognizer.trained.config.data)
    samples = splits[split]
    labels = [sample.labels.tolist() for sample in samples]
    reference = [recognized_ids(jax_recognizer, sample.keypoints) for sample in samples]
    results = {
        "split": split,
        "decoder": options.decoder,
        "clips": len(samples),
        "jax.float32.accuracy": fraction_equal(reference, labels),
    }
    for spec in exports.split(","):
        fmt, dtype = spec.split(":")
        with tempfile.TemporaryDirectory() as folder:
            convert.export_trained(jax_recognizer.trained, folder, fmt, dtype, options=options)
            exported = runtime.ExportedRecognizer.load(folder, decoder=options.decoder)
            ids = [recognized_ids(exported, sample.keypoints) for sample in samples]
        results[f"{fmt}.{dtype}.accuracy"] = fraction_equal(ids, labels)
        results[f"{fmt}.{dtype}.agreement"] = fraction_equal(ids, reference)
    return results


def fraction_equal(found: list, wanted: list) -> float:
    return sum(a == b for a, b in zip(found, wanted, strict=True)) / len(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--exports", default=DEFAULT_EXPORTS, help="format:dtype,...")
    parser.add_argument("--decoder", default=DecodeOptions().decoder)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = export_accuracies(args.workdir, args.split, args.exports, args.decoder)
    width = max(len(key) for key in results)
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        print(strict_json.dumps(results))  # a metric that is not finite: null


if __name__ == "__main__":
    main()
