"""The export suite (``--only export``): each export format and weight type.

``export.<size>.<format>.<dtype>.*`` for the ``--export_size`` model (default base; random
weights, ``models.random_model``) and each of ``--exports`` (default ``EXPORTS``, all seven):

- ``export_s``: JAX -> files (``export.convert.export_trained``);
- ``encoder_mb`` and ``scorer_mb``: the sizes of those files;
- per 3 s window through the exported model with the JAX-free runtime (``export.runtime``:
  its NumPy decoders, all cores of this process), after its first call:
  ``ctc_greedy_p50_ms``, ``ctc_greedy_p95_ms`` and ``attention_rescoring_p50_ms`` (the
  default attention rescoring), over ``--infer_repeats`` calls.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import p50, p95, progress, timed
from benchmarks.models import random_model, random_window

EXPORTS = (
    ("tflite", "float32"), ("tflite", "float16"), ("tflite", "int8"),
    ("onnx", "float32"), ("onnx", "float16"), ("onnx", "int8"), ("saved_model", "float32"),
)  # fmt: skip
RUNTIME_DECODERS = ("ctc_greedy", "attention_rescoring")


def megabytes(path: Path) -> float:
    """MiB of a file, or of every file under a folder."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def benchmark_export(
    size: str, repeats: int = 50, exports: Sequence[tuple[str, str]] = EXPORTS
) -> dict[str, float]:
    """The keys of each (format, dtype) of ``exports``, exported into a scratch folder."""
    from whispersign_jax.export import convert, runtime
    from whispersign_jax.export.bundle import ExportBundle

    model = random_model(size, "float32")
    window = random_window()
    results = {}
    for fmt, dtype in exports:
        prefix = f"export.{size}.{fmt}.{dtype}"
        with tempfile.TemporaryDirectory() as folder:
            results[f"{prefix}.export_s"] = timed(
                lambda fmt=fmt, dtype=dtype, folder=folder: convert.export_trained(
                    model, folder, fmt, dtype
                )
            )
            bundle = ExportBundle.load(folder)
            results[f"{prefix}.encoder_mb"] = megabytes(Path(folder) / bundle.encoder_file)
            results[f"{prefix}.scorer_mb"] = megabytes(Path(folder) / bundle.scorer_file)
            for decoder in RUNTIME_DECODERS:
                exported = runtime.ExportedRecognizer.load(folder, decoder=decoder)
                exported.recognize(window)  # first call: the runtime's own set-up
                times = [timed(lambda r=exported: r.recognize(window)) for _ in range(repeats)]
                results[f"{prefix}.{decoder}_p50_ms"] = 1e3 * p50(times)
                if decoder == "ctc_greedy":
                    results[f"{prefix}.{decoder}_p95_ms"] = 1e3 * p95(times)
        progress(
            f"{prefix}: encoder {results[f'{prefix}.encoder_mb']:.1f} MB, ctc_greedy p50 "
            f"{results[f'{prefix}.ctc_greedy_p50_ms']:.2f} ms"
        )
    return results
