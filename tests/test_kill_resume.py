"""Real training processes interrupted and resumed: killed with SIGKILL at random moments
(one of them while a checkpoint is being written) and stopped with SIGTERM, then rerun to the
end. The result must be bitwise the uninterrupted run's, which trains beside the interrupted
runs (each mostly waits on one core; run one after the other they took 1.5 minutes). The
interrupted runs read the clips from a corpus on disk, the uninterrupted one holds the same
clips in memory."""

import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
from demo_corpus import write_demo_corpus

from whispersign_jax.runs import trained

REPO = Path(__file__).resolve().parents[1]
STEPS_SEEN = "steps ("  # the stage's "N steps (M per epoch ...)" line: the loop is about to start


def command(workdir: Path, cache: Path, *overrides: str) -> list[str]:
    return [
        sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py:quick",
        f"--workdir={workdir}", f"--config.compile_cache_dir={cache}",
        "--config.checkpoint_every_steps=2", "--config.log_every_steps=2",
        "--config.evaluate_test=False",  # resume is the test here, not the test split
        *overrides,
    ]  # fmt: skip


def start(workdir: Path, cache: Path, *overrides: str, log=subprocess.PIPE) -> subprocess.Popen:
    """The run, its output to ``log`` (default: a pipe the caller reads)."""
    return subprocess.Popen(
        command(workdir, cache, *overrides), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def wait_for_line(process: subprocess.Popen, text: str, log: list[str]) -> None:
    for line in process.stdout:
        log.append(line)
        if text in line:
            return
    raise AssertionError(f"the run ended without printing {text!r}:\n{''.join(log[-20:])}")


def kill_during_checkpoint_write(workdir: Path, cache: Path, corpus: list[str]) -> None:
    """SIGKILL as soon as a temporary checkpoint folder (a write in progress) appears."""
    process = start(workdir, cache, *corpus)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if any(".orbax-checkpoint-tmp" in p.name for p in workdir.glob("*/checkpoints/*/*")):
            process.kill()
            break
        time.sleep(0.002)
    process.communicate()
    assert process.returncode == -9, "the run ended before a checkpoint write was caught"


def interrupt_until_done(workdir: Path, cache: Path, corpus: list[str]) -> None:
    """Kills the run during a checkpoint write and at two random moments, stops it with
    SIGTERM once a stage is about to train, then reruns it to the end (on the corpus)."""
    kill_during_checkpoint_write(workdir, cache, corpus)
    rng = np.random.default_rng(0)
    for delay in rng.uniform(2.0, 12.0, size=2):  # random moments: start-up, compile or steps
        process = start(workdir, cache, *corpus)
        time.sleep(delay)
        process.kill()
        process.communicate()
    process, log = start(workdir, cache, *corpus), []
    wait_for_line(process, STEPS_SEEN, log)
    process.terminate()
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, "".join(log) + output  # a stage was about to train
    assert "SIGTERM: stopped stage" in output
    final = subprocess.run(
        command(workdir, cache, *corpus), cwd=REPO, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]


def test_killed_and_terminated_runs_on_a_corpus_resume_bitwise_equal(tmp_path):
    cache = tmp_path / "xla"
    workdir = tmp_path / "interrupted"
    straight_log = tmp_path / "straight.log"
    with straight_log.open("w") as log:  # a file: a pipe nobody reads would fill and block
        straight = start(tmp_path / "straight", cache, log=log)
    try:
        interrupt_until_done(workdir, cache, write_demo_corpus(tmp_path / "corpus"))
        assert straight.wait(timeout=600) == 0, straight_log.read_text()[-3000:]
    finally:
        straight.kill()  # only if a failure above left it running

    for stage in ("stage1", "stage2", "stage3"):
        expected = trained.load_trained(tmp_path / "straight", stage)
        resumed = trained.load_trained(workdir, stage)
        assert expected.step == resumed.step
        for a, b in zip(
            jax.tree.leaves(expected.variables), jax.tree.leaves(resumed.variables), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    assert (workdir / "results.json").read_text() == (
        tmp_path / "straight" / "results.json"
    ).read_text()
