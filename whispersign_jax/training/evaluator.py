"""The one evaluator: ``Evaluator`` scores a model on a split's samples, for training's
validation and for ``evaluate_workdir`` (the ``whispersign-evaluate`` command and the test
metrics at the end of training). It applies the preprocessing to the samples (the one place
evaluation inputs are preprocessed) and runs the decoder's eval step and, for validation, the
teacher-forced loss step."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax

from whispersign_jax import decoding, storage
from whispersign_jax.data.batching import eval_batches
from whispersign_jax.data.clips import ClipSource, clip_source, preprocessed
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.data.sample import Sample
from whispersign_jax.decoding import DecodeOptions
from whispersign_jax.model import WhisperSign
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.training import distributed, losses
from whispersign_jax.training.metrics import RecognitionMetrics

TOP_K = 5
GREEDY = DecodeOptions(decoder="ctc_greedy")


def make_eval_step(model: WhisperSign, options: DecodeOptions = GREEDY) -> Callable:
    """``(variables, batch) ->`` the decoder's outputs (``ids``, ``lengths``, n-best for the
    CTC beam decoders) plus ``top_glosses``, the five most likely single glosses, and the
    batch's ``sample_mask``; the Recognizer's jitted decode path (``decoding.make_decode_fn``)."""
    decode = decoding.make_decode_fn(model, options, top_glosses=TOP_K)

    def eval_step(variables, batch):
        outputs = decode(variables, batch["keypoints"], batch["frame_mask"])
        return {**outputs, "sample_mask": batch["sample_mask"]}  # rows that hold a clip

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
    samples: ClipSource | Sequence[Sample],
    batch_size: int,
    buckets: Sequence[int],
    max_labels: int,
    put_batch: Callable = lambda batch: batch,
    metrics: RecognitionMetrics | None = None,
    loss_step: Callable | None = None,
    alpha: float = 1.0,
    rows: Sequence[int] | None = None,
) -> dict[str, float | int]:
    """Metrics of ``eval_step``'s decoder over ``samples``; pass ``metrics`` to keep the
    accumulated alignments (confusion matrix, per-gloss accuracy). With ``loss_step``
    (``make_loss_step``) also ``loss/total``, ``loss/ctc`` and, where ``alpha`` uses the
    decoder, ``loss/attention`` over the whole split. With ``rows`` this process reads and
    fills only those rows of each batch (``input_pipeline.process_rows``)."""
    source = clip_source(samples)
    metrics = RecognitionMetrics() if metrics is None else metrics
    loss_totals: dict = {}
    for indices, batch in eval_batches(source, batch_size, buckets, max_labels, rows):
        device_batch = put_batch(batch)
        out = distributed.to_host(eval_step(variables, device_batch))  # every row
        for row, index in enumerate(indices):
            if not out["sample_mask"][row]:  # a clip that could not be read (logged)
                continue
            hypothesis = out["ids"][row, : int(out["lengths"][row])].tolist()
            reference = source.index.labels(index).tolist()
            metrics.add(reference, hypothesis, top5_candidates(out, row, hypothesis, reference))
        if loss_step is not None:
            sums = distributed.to_host(loss_step(variables, device_batch))
            loss_totals = {k: loss_totals.get(k, 0) + v for k, v in sums.items()}
    result = metrics.result()
    if loss_step is not None:
        result.update(losses.mean_losses(loss_totals, alpha))
    return result


class Evaluator:
    """``evaluator(variables) -> (metrics, alignments)`` over a fixed set of samples.

    ``samples`` are raw (the preprocessor is applied here, once). With ``alpha`` (a stage's
    loss weight) the metrics include ``loss/total``, ``loss/ctc`` and, where ``alpha`` uses the
    decoder, ``loss/attention``. ``put_batch`` places a host batch on the devices (training:
    ``sharding.global_batch``); ``wrap(step, what)`` wraps each jitted step (training: the
    first-compile log); ``rows`` are the rows of each batch this process reads (all: None)."""

    def __init__(
        self,
        model: WhisperSign,
        samples: ClipSource | Sequence[Sample],
        preprocessor: Preprocessor,
        data_config,
        options: DecodeOptions = GREEDY,
        alpha: float | None = None,
        put_batch: Callable = lambda batch: batch,
        wrap: Callable = lambda step, what: step,
        rows: Sequence[int] | None = None,
    ):
        self.samples = preprocessed(samples, None if preprocessor.is_identity else preprocessor)
        self.rows = rows
        self.batch_size = data_config.eval_batch_size
        self.buckets, self.max_labels = data_config.buckets, data_config.max_labels
        self.put_batch, self.alpha = put_batch, alpha
        self.eval_step = wrap(make_eval_step(model, options), "validation decoder")
        self.loss_step = None
        if alpha is not None:
            self.loss_step = wrap(make_loss_step(model, float(alpha)), "validation loss")

    def __call__(self, variables) -> tuple[dict[str, float | int], RecognitionMetrics]:
        """The metrics, and the alignments behind them (confusion matrix, per-gloss accuracy)."""
        alignments = RecognitionMetrics()
        metrics = evaluate_samples(
            self.eval_step, variables, self.samples, self.batch_size, self.buckets,
            self.max_labels, self.put_batch, alignments, self.loss_step,
            1.0 if self.alpha is None else float(self.alpha), self.rows,
        )  # fmt: skip
        return metrics, alignments


def evaluate_workdir(
    workdir: str,
    split: str = "test",
    stage: str | None = None,
    options: DecodeOptions | None = None,
    write_report: bool = True,
    dtype: str | None = None,
) -> dict:
    """Metrics of the best checkpoint of ``stage`` (default: last trained) on ``split``;
    with ``write_report`` also the files under ``<workdir>/eval/<split>-<decoder>/``
    (``eval_report.py``). ``options`` default: the default decoder (attention rescoring of
    the CTC n-best)."""
    from whispersign_jax.runs import trained

    if split not in SPLITS:
        raise ValueError(f"--split={split!r} is not a split; choose one of {', '.join(SPLITS)}.")
    options = options or DecodeOptions()
    run = trained.load_trained(workdir, stage, dtype)
    splits = trained.load_data_splits(run, workdir)  # refused when not the model's data
    if not splits[split]:
        raise ValueError(
            f"The {split} split of the workdir's data (config.data.source="
            f"{run.config.data.source!r}) has no usable samples; nothing to evaluate (pass "
            "another --split, or check the skipped samples logged above)."
        )
    evaluator = Evaluator(run.model, splits[split], run.preprocessor, run.config.data, options)
    result, alignments = evaluator(run.variables)
    summary = {
        **result,
        "split": split,
        "stage": run.stage,
        "step": run.step,
        "decoder": options.decoder,
        "dtype": run.model.config.dtype,
    }
    if write_report and distributed.is_main_process():
        from whispersign_jax.training.eval_report import write_report_files

        name = f"{split}-{options.decoder}" + ("-" + dtype if dtype else "")
        report_dir = storage.path(workdir) / "eval" / name
        write_report_files(report_dir, summary, alignments, run.vocabulary, run.step)
        summary["report"] = str(report_dir)
    return summary
