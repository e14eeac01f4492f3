"""Evaluates a trained workdir on a split and prints one JSON line.

    python -m whispersign_jax.evaluate --workdir=runs/demo [--split=test] [--stage=stage3]

Loads the best checkpoint of the last trained stage (or ``--stage``), decodes with CTC greedy
and reports ``accuracy`` (exact gloss sequence), ``top5_accuracy``, ``wer`` with its
substitutions / insertions / deletions, and ``samples``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence

import jax

from whispersign_jax import decoding
from whispersign_jax.data.batching import eval_batches
from whispersign_jax.data.sample import Sample
from whispersign_jax.metrics import RecognitionMetrics
from whispersign_jax.model import WhisperSign

TOP_K = 5


def make_eval_step(model: WhisperSign) -> Callable:
    """Jitted: variables, batch -> greedy frame ids, encoder lengths, top-5 single glosses."""

    @jax.jit
    def eval_step(variables, batch):
        _, encoder_mask, ctc_logits = model.apply(
            variables, batch["keypoints"], batch["frame_mask"], method="encode"
        )
        scores = decoding.single_gloss_log_likelihood(ctc_logits, encoder_mask)
        top_glosses = jax.lax.top_k(scores, min(TOP_K, scores.shape[-1]))[1] + 1
        return {
            "frame_ids": decoding.ctc_greedy_ids(ctc_logits),
            "lengths": encoder_mask.sum(axis=1),
            "top_glosses": top_glosses,
        }

    return eval_step


def evaluate_samples(
    eval_step: Callable,
    variables,
    samples: Sequence[Sample],
    batch_size: int,
    buckets: Sequence[int],
    max_labels: int,
    put_batch: Callable = lambda batch: batch,
) -> dict[str, float | int]:
    """CTC greedy metrics over ``samples``. Top-5: for a one-gloss reference, the five most
    likely single glosses under CTC; otherwise the greedy hypothesis alone."""
    metrics = RecognitionMetrics()
    for indices, batch in eval_batches(samples, batch_size, buckets, max_labels):
        out = jax.device_get(eval_step(variables, put_batch(batch)))
        for row, index in enumerate(indices):
            hypothesis = decoding.collapse(out["frame_ids"][row], int(out["lengths"][row]))
            reference = samples[index].labels.tolist()
            top5 = None
            if len(reference) == 1:
                top5 = [hypothesis] + [[int(g)] for g in out["top_glosses"][row]]
            metrics.add(reference, hypothesis, top5)
    return metrics.result()


def evaluate_workdir(workdir: str, split: str = "test", stage: str | None = None) -> dict:
    """Metrics of the best checkpoint of ``stage`` (default: last trained) on ``split``."""
    from whispersign_jax import trained
    from whispersign_jax.data.normalize import Preprocessor
    from whispersign_jax.data.sources import load_splits

    run = trained.load_trained(workdir, stage)
    _, splits = load_splits(run.config.data)
    preprocess = Preprocessor.load(workdir)  # identity for workdirs from before it existed
    samples = [dataclasses.replace(s, keypoints=preprocess(s.keypoints)) for s in splits[split]]
    data = run.config.data
    result = evaluate_samples(
        make_eval_step(run.model),
        run.variables,
        samples,
        data.eval_batch_size,
        data.buckets,
        data.max_labels,
    )
    return {**result, "split": split, "stage": run.stage, "step": run.step}


def main(argv: Sequence[str]) -> None:
    del argv
    print(json.dumps(evaluate_workdir(FLAGS.workdir, FLAGS.split, FLAGS.stage or None)))


if __name__ == "__main__":
    from absl import app, flags

    FLAGS = flags.FLAGS
    flags.DEFINE_string("workdir", None, "Training workdir.", required=True)
    flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split to evaluate.")
    flags.DEFINE_string("stage", "", "Stage to evaluate (default: the last trained one).")
    app.run(main)
