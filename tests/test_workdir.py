"""One run and one config per workdir: the lock and the config check."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whispersign_jax.runs.workdir import (
    UnsafeLockFileError,
    WorkdirInUseError,
    WorkdirLock,
    check_config,
    config_differences,
)


def test_a_second_lock_fails_at_once_and_names_the_holder(tmp_path):
    holder = rf"in use by process {os.getpid()} on "
    with (
        WorkdirLock(tmp_path),
        pytest.raises(WorkdirInUseError, match=holder),
        WorkdirLock(tmp_path),
    ):
        pass
    with WorkdirLock(tmp_path):  # released on exit
        pass


def test_symlink_lock_is_refused_and_its_target_unchanged(tmp_path):
    """A ``.lock`` link to a file elsewhere: locking neither truncates, writes nor creates
    the file it points to, and says which link to remove."""
    workdir, outside = tmp_path / "run", tmp_path / "outside.txt"
    workdir.mkdir()
    outside.write_text("precious\n")
    (workdir / ".lock").symlink_to(outside)
    message = rf"{workdir / '.lock'} is a symbolic link \(to {outside}\); .* Remove the link"
    with pytest.raises(UnsafeLockFileError, match=message), WorkdirLock(workdir):
        pass
    assert outside.read_text() == "precious\n"
    (workdir / ".lock").unlink()
    (workdir / ".lock").symlink_to(tmp_path / "missing.txt")  # a dangling link
    with pytest.raises(UnsafeLockFileError), WorkdirLock(workdir):
        pass
    assert not (tmp_path / "missing.txt").exists()
    (workdir / ".lock").unlink()
    with WorkdirLock(workdir):  # a plain lock file again
        assert (workdir / ".lock").read_text().startswith(f"process {os.getpid()} on ")


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom whispersign_jax.runs.workdir import WorkdirLock\n"
         f"with WorkdirLock({str(tmp_path)!r}):\n    print('held', flush=True)\n"
         "    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WorkdirInUseError, match=rf"process {holder.pid} "), WorkdirLock(tmp_path):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    time.sleep(0.1)
    with WorkdirLock(tmp_path):
        pass


def test_config_differences_ignore_fields_that_only_steer_the_run():
    saved = {"seed": 0, "run_stages": ["stage1"], "model": {"d_model": 256},
             "data": {"dir": "a", "parallel_calls": 2}, "mesh": {"data": -1}}  # fmt: skip
    current = {"seed": 0, "run_stages": ["stage2"], "model": {"d_model": 256},
               "data": {"dir": "a", "parallel_calls": 8}, "mesh": {"data": 4}}  # fmt: skip
    assert config_differences(saved, current) == []
    current["model"]["d_model"] = 512
    current["data"]["dir"] = "b"
    current["new_field"] = 1
    assert config_differences(saved, current) == [
        "data.dir: 'a' -> 'b'",
        "model.d_model: 256 -> 512",
        "new_field: 'unset' -> 1",
    ]


def test_check_config_refuses_another_config_and_names_both_sides(tmp_path):
    check_config(tmp_path, json.dumps({"seed": 0}))  # no config.json yet: anything goes
    (tmp_path / "config.json").write_text(json.dumps({"seed": 0, "log_every_steps": 50}))
    # A start that failed before its first checkpoint blocks no corrected rerun.
    check_config(tmp_path, json.dumps({"seed": 1, "log_every_steps": 50}))
    (tmp_path / "stage2" / "checkpoints" / "latest" / "4").mkdir(parents=True)
    check_config(tmp_path, json.dumps({"seed": 0, "log_every_steps": 5}))
    with pytest.raises(ValueError, match=r"1 fields differ, workdir -> this run: seed: 0 -> 1\)"):
        check_config(tmp_path, json.dumps({"seed": 1, "log_every_steps": 50}))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is unreadable"):
        check_config(tmp_path, json.dumps({"seed": 0}))


def test_a_field_added_later_matches_its_old_behaviour_in_a_saved_config():
    from whispersign_jax.runs.workdir import config_differences

    saved = {"pretrained": "openai/whisper-base"}  # written before pretrained_revision existed
    assert config_differences(saved, {**saved, "pretrained_revision": ""}) == []
    assert config_differences(saved, {**saved, "pretrained_revision": "v2"}) == [
        "pretrained_revision: '' -> 'v2'"
    ]


def test_the_training_command_refuses_another_config_in_one_line(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"seed": 5}))
    (tmp_path / "stage2" / "checkpoints" / "latest" / "4").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py:quick",
         f"--workdir={tmp_path}"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: {tmp_path} was trained with another config")
    )
    assert json.loads((tmp_path / "config.json").read_text()) == {"seed": 5}  # untouched
