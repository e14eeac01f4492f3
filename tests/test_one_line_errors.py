"""Every installed console script ends an expected failure (bad settings, missing or damaged
files) in one line on stderr that names the cause, exit status 1 or 2, no traceback
(``pytest -k one_line_errors``; whispersign_jax/errors.py says which failures are expected).
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from conftest import REPO, save_as_workdir
from test_entry_points import script_command


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny_trained_model):
    """A keypoint clip, a good workdir, one whose checkpoint is damaged, and an ONNX export
    whose encoder file is cut short."""
    from whispersign_jax.export import convert

    model, clips = tiny_trained_model
    root = tmp_path_factory.mktemp("bad")
    clip = root / "clip.npy"
    np.save(clip, clips[0].keypoints)
    save_as_workdir(model, root / "good")
    damaged = save_as_workdir(model, root / "damaged")
    weights = max((damaged / "stage2").rglob("*"), key=lambda p: p.stat().st_size)
    with weights.open("r+b") as file:  # overwrite 4 KB in the middle of the largest file
        file.seek(weights.stat().st_size // 2)
        file.write(os.urandom(4096))
    export = root / "export"
    convert.export_trained(model, export, "onnx", "float32", source="tiny")
    encoder = next(export.glob("encoder*.onnx"))
    encoder.write_bytes(encoder.read_bytes()[: encoder.stat().st_size // 3])
    return {"root": root, "clip": clip, "damaged": damaged, "export": export,
            "good": root / "good"}  # fmt: skip


# fmt: off
CASES = [  # (script, arguments with {places}, what the line must say)
    ("whispersign-train", ["--config=demo.py:quick", "--config.nosuch_field=1"], "nosuch_field"),
    ("whispersign-train", ["--config={root}/absent.py"], "absent.py"),
    ("whispersign-evaluate", ["--workdir={root}/nowhere"], "is not a training workdir"),
    ("whispersign-evaluate", ["--workdir={damaged}"], "checkpoint"),
    ("whispersign-recognize", ["--workdir={root}/nowhere", "--keypoints={clip}"], "does not exist"),
    ("whispersign-recognize", ["--workdir={damaged}", "--keypoints={clip}"], "checkpoint"),
    ("whispersign-recognize", ["--workdir={good}", "--keypoints={root}/x.npy"], "x.npy"),
    ("whispersign-recognize", ["--workdir={good}", "--keypoints={export}/whispersign_export.json"],
     "not a .npy file"),
    ("whispersign-export", ["--workdir={damaged}", "--format=onnx", "--out=o"], "checkpoint"),
    ("whispersign-run-export", ["--model={export}", "--keypoints={clip}"], "cannot load"),
    ("whispersign-run-export", ["--model={root}/nowhere", "--keypoints={clip}"], "nowhere"),
    ("whispersign-visualize", ["--keypoints={root}/x.npy", "--out={root}/x.gif"], "x.npy"),
    ("whispersign-serve", ["--workdir={damaged}", "--port=0"], "hand landmarker model"),
    ("whispersign-serve", ["--workdir={root}/nowhere", "--port=0"], "no such folder"),
    ("whispersign-extract", ["--video={root}/absent.mp4", "--out={root}/a.npy"], "absent.mp4"),
    ("whispersign-prepare", ["--format=mp_data", "--data_dir={root}/none"], "none"),
]
# fmt: on


@pytest.mark.parametrize(
    ("script", "arguments", "says"),
    CASES,
    ids=[f"{script}-{i}" for i, (script, _, _) in enumerate(CASES)],
)
def test_one_line_errors(script, arguments, says, places):
    command, _ = script_command(script, *(a.format(**places) for a in arguments))
    environment = {k: v for k, v in os.environ.items() if k != "WHISPERSIGN_TRACEBACK"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=places["root"], env=environment
    )
    assert result.returncode in (1, 2), (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert says in last, last


def test_the_traceback_variable_shows_the_traceback(places):
    command, _ = script_command("whispersign-evaluate", f"--workdir={places['root']}/nowhere")
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WHISPERSIGN_TRACEBACK": "1"},
    )
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_minor_bad_distributed_setting_one_line_errors(tmp_path):
    """An impossible process id ends the command in one line naming the setting, before JAX
    joins anything."""
    command, _ = script_command(
        "whispersign-train", f"--config={REPO}/configs/demo.py:quick", f"--workdir={tmp_path}/run",
        "--config.distributed.initialize=True", "--config.distributed.num_processes=2",
        "--config.distributed.process_id=2",
    )  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k != "WHISPERSIGN_TRACEBACK"}
    environment.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))  # the checkout's package
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environment
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: config.distributed.process_id=2 is not below "), last
