"""An evaluation's report files: ``metrics.json`` (with per-gloss accuracy and the confusion
matrix), ``confusion.png`` and TensorBoard events, in ``<workdir>/eval/<split>-<decoder>/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whispersign_jax.cli import strict_json
from whispersign_jax.training.metrics import RecognitionMetrics
from whispersign_jax.vocab import Vocabulary


def confusion_labels(vocabulary: Vocabulary) -> list[str]:
    """Row and column names of the confusion matrix: ``(none)`` (inserted / deleted), glosses."""
    return ["(none)", *vocabulary.glosses]


def confusion_image(metrics: RecognitionMetrics, vocabulary: Vocabulary) -> np.ndarray:
    """The confusion matrix of ``metrics`` as an RGB image (height, width, 3) uint8."""
    from whispersign_jax.pictures.confusion_image import render_confusion

    matrix = metrics.confusion_matrix(vocabulary.num_glosses)
    return render_confusion(matrix, confusion_labels(vocabulary))


def write_report_files(
    directory: Path, summary: dict, metrics: RecognitionMetrics, vocabulary: Vocabulary, step: int
) -> None:
    """``metrics.json``, ``confusion.png`` and TensorBoard events in ``directory``."""
    from whispersign_jax.training import metric_writers

    directory.mkdir(parents=True, exist_ok=True)
    matrix = metrics.confusion_matrix(vocabulary.num_glosses)
    labels = confusion_labels(vocabulary)
    per_gloss = {
        vocabulary.glosses[gloss - 1]: values
        for gloss, values in metrics.per_gloss_accuracy(vocabulary.num_glosses).items()
    }
    report = {
        **summary,
        "per_gloss_accuracy": per_gloss,
        "confusion_matrix": {
            "labels": labels,
            "rows": "reference gloss ('(none)': inserted)",
            "columns": "recognised gloss ('(none)': deleted)",
            "counts": matrix.tolist(),
        },
    }
    text = strict_json.dumps(report, indent=1, ensure_ascii=False)  # a NaN metric: null
    (directory / "metrics.json").write_text(text)
    image = confusion_image(metrics, vocabulary)  # (height, width, 3) uint8
    from PIL import Image

    with (directory / "confusion.png").open("wb") as f:  # a local or a cloud folder
        Image.fromarray(image).save(f, format="PNG")
    for old in directory.glob("events.out.tfevents.*"):
        old.unlink()  # the report is of this evaluation only
    writer = metric_writers.create_writer(str(directory), log_values=False)  # in metrics.json
    scalars = {k: v for k, v in summary.items() if isinstance(v, int | float)}
    writer.write_scalars(step, scalars)
    writer.write_images(step, {"confusion_matrix": image[None]})
    writer.close()
