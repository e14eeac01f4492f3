"""Evaluation as a library: the jitted eval and loss steps that training validates with, and
``evaluate_workdir``, which scores a trained workdir on a split and writes its report
(the ``whispersign-evaluate`` command, ``whispersign_jax/evaluate.py``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from whispersign_jax import decoding, distributed, losses
from whispersign_jax.data.batching import eval_batches
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample
from whispersign_jax.decoding import DecodeOptions
from whispersign_jax.metrics import RecognitionMetrics
from whispersign_jax.model import WhisperSign
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.vocab import Vocabulary

TOP_K = 5
GREEDY = DecodeOptions(decoder="ctc_greedy")


def make_eval_step(model: WhisperSign, options: DecodeOptions = GREEDY) -> Callable:
    """``(variables, batch) ->`` the decoder's outputs (``ids``, ``lengths``, n-best for the
    CTC beam decoders) plus ``top_glosses``, the five most likely single glosses; the
    Recognizer's jitted decode path (``decoding.make_decode_fn``)."""
    decode = decoding.make_decode_fn(model, options, top_glosses=TOP_K)

    def eval_step(variables, batch):
        return decode(variables, batch["keypoints"], batch["frame_mask"])

    return eval_step


def make_loss_step(model: WhisperSign, alpha: float) -> Callable:
    """Jitted ``(variables, batch) ->`` the sums and counts of the validation losses
    (``losses.loss_sums``): the model in evaluation mode, teacher-forced, the decoder run
    only when the stage's ``alpha`` uses it."""
    num_glosses = model.config.num_glosses

    @jax.jit
    def loss_step(variables, batch):
        inputs, targets, target_mask = teacher_forcing(
            batch["labels"], batch["label_mask"], num_glosses
        )
        decoder_inputs = inputs if losses.uses_decoder(alpha) else None
        outputs = model.apply(variables, batch["keypoints"], batch["frame_mask"], decoder_inputs)
        return losses.loss_sums(
            outputs, batch["labels"], batch["label_mask"], targets, target_mask,
            batch["sample_mask"],
        )  # fmt: skip

    return loss_step


def top5_candidates(out: dict, row: int, hypothesis: list[int], reference: list[int]):
    """The five best hypotheses: the CTC n-best where the decoder has one, else (for a
    one-gloss reference) the five most likely single glosses under CTC; else None."""
    if "nbest_ids" in out:
        lengths = out["nbest_lengths"][row][:TOP_K].tolist()
        nbest = [out["nbest_ids"][row, k, :n].tolist() for k, n in enumerate(lengths)]
        return [hypothesis, *nbest]
    if len(reference) == 1:
        return [hypothesis] + [[int(g)] for g in out["top_glosses"][row]]
    return None


def evaluate_samples(
    eval_step: Callable,
    variables,
    samples: Sequence[Sample],
    batch_size: int,
    buckets: Sequence[int],
    max_labels: int,
    put_batch: Callable = lambda batch: batch,
    metrics: RecognitionMetrics | None = None,
    loss_step: Callable | None = None,
    alpha: float = 1.0,
) -> dict[str, float | int]:
    """Metrics of ``eval_step``'s decoder over ``samples``; pass ``metrics`` to keep the
    accumulated alignments (confusion matrix, per-gloss accuracy). With ``loss_step``
    (``make_loss_step``) also ``loss/total``, ``loss/ctc`` and, where ``alpha`` uses the
    decoder, ``loss/attention`` over the whole split."""
    metrics = RecognitionMetrics() if metrics is None else metrics
    loss_totals: dict = {}
    for indices, batch in eval_batches(samples, batch_size, buckets, max_labels):
        device_batch = put_batch(batch)
        out = distributed.to_host(eval_step(variables, device_batch))  # every row
        for row, index in enumerate(indices):
            hypothesis = out["ids"][row, : int(out["lengths"][row])].tolist()
            reference = samples[index].labels.tolist()
            metrics.add(reference, hypothesis, top5_candidates(out, row, hypothesis, reference))
        if loss_step is not None:
            sums = distributed.to_host(loss_step(variables, device_batch))
            loss_totals = {k: loss_totals.get(k, 0) + v for k, v in sums.items()}
    result = metrics.result()
    if loss_step is not None:
        result.update(losses.mean_losses(loss_totals, alpha))
    return result


def evaluate_workdir(
    workdir: str,
    split: str = "test",
    stage: str | None = None,
    options: DecodeOptions | None = None,
    write_report: bool = True,
    dtype: str | None = None,
) -> dict:
    """Metrics of the best checkpoint of ``stage`` (default: last trained) on ``split``;
    with ``write_report`` also the files under ``<workdir>/eval/<split>-<decoder>/``.
    ``options`` default: the default decoder (attention rescoring of the CTC n-best)."""
    from whispersign_jax import trained
    from whispersign_jax.data.sources import load_splits

    if split not in SPLITS:
        raise ValueError(f"--split={split!r} is not a split; choose one of {', '.join(SPLITS)}.")
    options = options or DecodeOptions()
    run = trained.load_trained(workdir, stage, dtype)
    _, splits = load_splits(run.config.data)
    samples = splits[split]
    if not samples:
        raise ValueError(
            f"The {split} split of the workdir's data (config.data.source="
            f"{run.config.data.source!r}) has no usable samples; nothing to evaluate (pass "
            "another --split, or check the skipped samples logged above)."
        )
    if not run.preprocessor.is_identity:
        samples = [dataclasses.replace(s, keypoints=run.preprocessor(s.keypoints)) for s in samples]
    data = run.config.data
    metrics = RecognitionMetrics()
    result = evaluate_samples(
        make_eval_step(run.model, options),
        run.variables,
        samples,
        data.eval_batch_size,
        data.buckets,
        data.max_labels,
        metrics=metrics,
    )
    summary = {
        **result,
        "split": split,
        "stage": run.stage,
        "step": run.step,
        "decoder": options.decoder,
        "dtype": run.model.config.dtype,
    }
    if write_report and distributed.is_main_process():
        name = f"{split}-{options.decoder}" + ("-" + dtype if dtype else "")
        report_dir = Path(workdir) / "eval" / name
        write_report_files(report_dir, summary, metrics, run.vocabulary, run.step)
        summary["report"] = str(report_dir)
    return summary


def confusion_labels(vocabulary: Vocabulary) -> list[str]:
    """Row and column names of the confusion matrix: ``(none)`` (inserted / deleted), glosses."""
    return ["(none)", *vocabulary.glosses]


def confusion_image(metrics: RecognitionMetrics, vocabulary: Vocabulary) -> np.ndarray:
    """The confusion matrix of ``metrics`` as an RGB image (height, width, 3) uint8."""
    from whispersign_jax.confusion_image import render_confusion

    matrix = metrics.confusion_matrix(vocabulary.num_glosses)
    return render_confusion(matrix, confusion_labels(vocabulary))


def write_report_files(
    directory: Path, summary: dict, metrics: RecognitionMetrics, vocabulary: Vocabulary, step: int
) -> None:
    """``metrics.json``, ``confusion.png`` and TensorBoard events in ``directory``."""
    from whispersign_jax import metric_writers

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
    (directory / "metrics.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    image = confusion_image(metrics, vocabulary)  # (height, width, 3) uint8
    from PIL import Image

    Image.fromarray(image).save(directory / "confusion.png")
    for old in directory.glob("events.out.tfevents.*"):
        old.unlink()  # the report is of this evaluation only
    writer = metric_writers.create_writer(str(directory), log_values=False)  # in metrics.json
    scalars = {k: v for k, v in summary.items() if isinstance(v, int | float)}
    writer.write_scalars(step, scalars)
    writer.write_images(step, {"confusion_matrix": image[None]})
    writer.close()
