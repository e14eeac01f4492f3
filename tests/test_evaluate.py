"""Evaluation with each decoder, and the report files: metrics.json, PNG, TensorBoard image."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from whispersign_jax import evaluate
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.decoding import DecodeOptions
from whispersign_jax.pictures.confusion_image import render_confusion
from whispersign_jax.training import eval_report, evaluator
from whispersign_jax.training.metrics import RecognitionMetrics


@pytest.mark.parametrize("decoder", ["ctc_greedy", "attention_rescoring"])
def test_evaluate_samples_with_a_decoder(tiny_trained_model, decoder):
    run, clips = tiny_trained_model
    data = SimpleNamespace(eval_batch_size=6, buckets=(224,), max_labels=3)
    options = DecodeOptions(decoder=decoder, beam_size=4)
    evaluate = evaluator.Evaluator(run.model, clips, Preprocessor(), data, options)
    result, metrics = evaluate(run.variables)
    assert result["samples"] == 12
    # The tiny model knows each clip with probability > 0.9 (its fixture checks it).
    assert result["accuracy"] == 1.0 and result["top5_accuracy"] == 1.0
    assert result["wer"] == 0.0
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
    eval_report.write_report_files(tmp_path, summary, metrics, run.vocabulary, step=7)
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


def evaluate_args(workdir, **flags):
    import types

    values = dict(workdir=str(workdir), split="test", stage="", dtype="", decoder="ctc_greedy",
                  beam_size=4, ctc_weight=0.3)  # fmt: skip
    return types.SimpleNamespace(**{**values, **flags})


def test_expected_errors_end_in_one_line(tmp_path, monkeypatch, capsys):
    """A missing workdir, a workdir without checkpoints, a bad split and a corrupt checkpoint:
    one line each (SystemExit with the message, exit status 1 under absl), no traceback."""
    from whispersign_jax.runs.checkpointing import CorruptCheckpointError

    with pytest.raises(SystemExit, match=r"^error: .*absent/config\.json not found"):
        evaluate.run_command(evaluate_args(tmp_path / "absent"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"run_stages": ["stage1"]}))
    with pytest.raises(SystemExit, match=r"^error: No best checkpoint for \['stage1'\]"):
        evaluate.run_command(evaluate_args(tmp_path / "run"))
    with pytest.raises(SystemExit, match=r"^error: --split='dev' is not a split; choose one of"):
        evaluate.run_command(evaluate_args(tmp_path / "run", split="dev"))

    def corrupt(*args, **kwargs):
        raise CorruptCheckpointError("runs/x/stage1/checkpoints/best/7 is corrupt")

    monkeypatch.setattr(evaluator, "evaluate_workdir", corrupt)
    with pytest.raises(SystemExit, match=r"^error: runs/x/stage1/checkpoints/best/7 is corrupt$"):
        evaluate.run_command(evaluate_args(tmp_path / "run"))
    assert capsys.readouterr().out == ""


def test_command_line_error_is_one_line_and_fails(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "whispersign_jax.evaluate", f"--workdir={tmp_path / 'absent'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "absent/config.json not found" in result.stderr
