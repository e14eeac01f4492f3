"""Evaluation with each decoder, and the report files: metrics.json, PNG, TensorBoard image."""

import json

import numpy as np
import pytest

from whispersign_jax import evaluate
from whispersign_jax.confusion_image import render_confusion
from whispersign_jax.decoding import DecodeOptions
from whispersign_jax.metrics import RecognitionMetrics


@pytest.mark.parametrize("decoder", ["ctc_greedy", "attention_rescoring"])
def test_evaluate_samples_with_a_decoder(tiny_trained_model, decoder):
    run, clips = tiny_trained_model
    metrics = RecognitionMetrics()
    step = evaluate.make_eval_step(run.model, DecodeOptions(decoder=decoder, beam_size=4))
    result = evaluate.evaluate_samples(
        step, run.variables, clips, 6, (224,), 3, metrics=metrics
    )  # fmt: skip
    assert result["samples"] == 12
    assert result["accuracy"] >= 8 / 12 and result["top5_accuracy"] >= result["accuracy"]
    matrix = metrics.confusion_matrix(run.vocabulary.num_glosses)
    assert matrix[1:].sum() == sum(len(c.labels) for c in clips)  # every reference gloss
    assert result["substitutions"] + result["deletions"] + np.trace(matrix[1:, 1:]) == (
        matrix[1:].sum()
    )


def test_report_files(tmp_path, tiny_trained_model):
    run, _ = tiny_trained_model
    metrics = RecognitionMetrics()
    metrics.add([1], [1])
    metrics.add([2, 3], [2, 4])
    metrics.add([4], [])
    summary = {**metrics.result(), "split": "test", "decoder": "ctc_greedy"}
    evaluate.write_report_files(tmp_path, summary, metrics, run.vocabulary, step=7)
    report = json.loads((tmp_path / "metrics.json").read_text())
    names = run.vocabulary.glosses
    assert report["per_gloss_accuracy"][names[2]] == {"signed": 1, "recognised": 0, "accuracy": 0}
    assert report["per_gloss_accuracy"][names[0]]["accuracy"] == 1.0
    counts = np.array(report["confusion_matrix"]["counts"])
    assert counts[3, 4] == 1 and counts[4, 0] == 1 and report["confusion_matrix"]["labels"][0]
    from PIL import Image

    assert Image.open(tmp_path / "confusion.png").mode == "RGB"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0}).Reload()
    assert {"confusion_matrix", "wer", "accuracy"} <= set(events.Tags()["tensors"])


def test_confusion_image_darkens_with_the_share_of_each_row():
    matrix = np.array([[0, 0, 0], [0, 3, 1], [0, 0, 5]])
    image = render_confusion(matrix, ["(none)", "a", "b"])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    big = render_confusion(np.eye(60, dtype=int), [f"g{i}" for i in range(60)])
    assert big.shape[0] == big.shape[1] and big.min() < 50  # unlabelled, diagonal is dark
