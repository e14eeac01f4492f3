"""Training and evaluation on a host without TensorFlow (JAX-only GPU and TPU images): the quick
demo trains, checkpoints and writes TensorBoard events that read back as usual; a TFDS source
says what to use instead."""

import json
import os
import subprocess
import sys

import numpy as np
from conftest import REPO
from test_train import read_scalars, scalar_tags

# ``None`` in sys.modules: ``import tensorflow`` raises ModuleNotFoundError and
# ``importlib.util.find_spec("tensorflow")`` is None, as where it is not installed.
NO_TENSORFLOW = 'import sys\n\nsys.modules["tensorflow"] = None\n'

PROBE = """
import importlib.util, sys
for name in ("tensorflow", "clu.metric_writers", "clu.periodic_actions"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} imported")
assert importlib.util.find_spec("tensorflow") is None
import ml_collections
from whispersign_jax.training import train
from whispersign_jax.data import sources
config = ml_collections.ConfigDict(dict(source="tfds", name="mp_data", tfds_dir="", dir=""))
try:
    sources.load_splits(config)
except ImportError as error:
    print(error)
"""


def run_without_tensorflow(tmp_path, *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "no_tensorflow"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NO_TENSORFLOW)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def test_tfds_source_without_tensorflow_names_what_to_use_instead(tmp_path):
    message = run_without_tensorflow(tmp_path, "-c", PROBE).stdout
    assert "config.data.source='tfds' needs TensorFlow" in message
    assert "--config.data.source=processed --config.data.dir=DIR" in message


def test_quick_demo_trains_and_evaluates_without_tensorflow(tmp_path):
    workdir = tmp_path / "demo"
    run_without_tensorflow(
        tmp_path,
        "-m",
        "whispersign_jax.main",
        "--config=configs/demo.py:quick",
        f"--workdir={workdir}",
        "--config.stages.stage2.epochs=1",
    )
    results = json.loads((workdir / "results.json").read_text())
    assert set(results) == {"stage1", "stage2", "stage3"}
    for stage in results:
        for kind in ("best", "latest"):
            assert [p.name for p in (workdir / stage / "checkpoints" / kind).iterdir()] == ["9"]
        assert {
            "loss/total",
            "loss/ctc",
            "lr",
            "grad_norm",
            "steps_per_s",
            "steps_per_sec",
            "val/wer",
            "val/accuracy",
            "_hparams_/session_start_info",
        } <= set(scalar_tags(workdir / stage))
        losses = read_scalars(workdir / stage, "loss/total")
        assert len(losses) == 5 and np.isfinite(losses).all()  # 9 steps, logged every 2 and last
        assert read_scalars(workdir / stage, "val/accuracy") == [
            np.float32(results[stage]["accuracy"])
        ]
    assert "loss/attention" not in scalar_tags(workdir / "stage1")  # CTC only

    output = run_without_tensorflow(
        tmp_path, "-m", "whispersign_jax.evaluate", f"--workdir={workdir}", "--split=test"
    ).stdout
    summary = json.loads(output.strip().splitlines()[-1])
    report = workdir / "eval" / "test-attention_rescoring"
    assert summary["report"] == str(report) and (report / "confusion.png").is_file()
    assert {"confusion_matrix", "wer", "accuracy"} <= set(scalar_tags(report))
    assert read_scalars(report, "accuracy") == [np.float32(summary["accuracy"])]
    assert read_scalars(report, "samples") == [summary["samples"]]
