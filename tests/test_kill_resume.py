"""The soak test (``pytest -k soak``): real ``configs/demo.py:quick`` training
processes interrupted by a driver that follows a seeded schedule (``soak_schedule``), then
rerun to the end. The parameters of every stage, ``results.json`` and the test-split
evaluation must be bitwise the uninterrupted run's, which trains beside the interrupted runs
(each mostly waits on one core); no run may print a traceback, and nothing outside the workdir
may change. The interrupted runs read the clips from a corpus on disk, the uninterrupted one
holds the same clips in memory.

The events: SIGKILL during a checkpoint write, SIGKILL and SIGTERM at seeded moments, and
damage between runs: the largest file of the newest ``latest`` step of the stage in progress
truncated, or 4 KB of it overwritten, where that stage has an older step (else at the next
gap where it has): the rerun goes back to the older step, moves the damaged one to the
quarantine and trains through it again. Damage to a ``best`` step is left out because the
design does not recover it exactly: a rerun never writes a best step again, so a damaged best
is either read (by the next stage's start or the test-split evaluation, which then use the
best before it or stop) or stays damaged; either way that stage's result is no longer the
uninterrupted run's. Damage to the only ``latest`` step of a stage is left out too: with no
intact step the run stops in one line, by design."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import jax
import numpy as np
from checkpoint_damage import damage
from demo_corpus import write_demo_corpus

from whispersign_jax.runs import trained
from whispersign_jax.runs.checkpointing import NOTE, QUARANTINE

REPO = Path(__file__).resolve().parents[1]
SEED = 52  # a schedule with a SIGTERM in start-up (0.54 s) and one in training
TOTAL_STEPS = {"stage1": 9, "stage2": 18, "stage3": 9}  # configs/demo.py:quick: 144 clips, 16
WRITE_MARK = ".orbax-checkpoint-tmp"  # a folder Orbax renames once a step is written
STOPPED = re.compile(r"SIGTERM: stopped (stage\d) at step (\d+) with a checkpoint saved")
PROGRESS = re.compile(r"stage\d step \d+/\d+ \(")  # a progress line: "stage1 step 2/9 (22%"
NEVER_PRINTED = ("Traceback", "Exception ignored")
CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis")  # written by Python


@dataclasses.dataclass
class Interruption:
    """One interrupted run: ``signal`` sent during the run's ``write``-th checkpoint write, or
    ``after_s`` seconds after its start or (``lines``) after its ``lines``-th progress line;
    then ``damage`` ("truncate" or "overwrite") if not None."""

    signal: str
    after_s: float = 0.0
    lines: int = 0
    write: int = 0
    damage: str | None = None


def soak_schedule(seed: int = SEED) -> list[Interruption]:
    """Five interrupted runs. The first, on a fresh workdir, is killed during its 3rd or 4th
    checkpoint write (``latest`` then holds two steps), and its newest step is damaged. Then,
    in a seeded order, SIGKILL and SIGTERM each at one moment 0.5-6 s after start (start-up,
    compilation or training on a 2-core machine) and at one 0-2 s after the run's 1st-10th
    progress line (training, a checkpoint write, validation or the next stage's start; a line
    every 2 steps, 19 in a whole run); the other damage follows one of these runs but the
    last."""
    rng = np.random.default_rng(seed)
    first, second = rng.permutation(["truncate", "overwrite"])
    runs = [Interruption("SIGKILL", write=int(rng.integers(3, 5)), damage=str(first))]
    moments = [(name, anchor) for name in ("SIGKILL", "SIGTERM") for anchor in ("start", "lines")]
    for index in rng.permutation(len(moments)):
        name, anchor = moments[index]
        if anchor == "start":
            runs.append(Interruption(name, after_s=round(float(rng.uniform(0.5, 6.0)), 2)))
        else:
            lines, after_s = int(rng.integers(1, 11)), round(float(rng.uniform(0.0, 2.0)), 2)
            runs.append(Interruption(name, after_s=after_s, lines=lines))
    runs[int(rng.integers(1, 4))].damage = str(second)
    return runs


def command(workdir: Path, cache: Path, *overrides: str) -> list[str]:
    return [
        sys.executable, "-m", "whispersign_jax.main", f"--config={REPO}/configs/demo.py:quick",
        f"--workdir={workdir}", f"--config.compile_cache_dir={cache}",
        "--config.checkpoint_every_steps=2", "--config.log_every_steps=2", *overrides,
    ]  # fmt: skip


def start(workdir: Path, cache: Path, log: Path, cwd: Path, *overrides: str) -> subprocess.Popen:
    """The run, its output to the file ``log`` (a pipe nobody reads would fill and block)."""
    with log.open("w") as output:
        return subprocess.Popen(
            command(workdir, cache, *overrides), cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )


def latest_steps(workdir: Path, stage: str) -> list[int]:
    folder = workdir / stage / "checkpoints" / "latest"
    return sorted(int(p.name) for p in folder.glob("*") if p.name.isdigit())


def damage_target(workdir: Path) -> tuple[str, int] | None:
    """The newest ``latest`` step of the stage in progress, if that stage has an older one."""
    for stage, total in TOTAL_STEPS.items():
        steps = latest_steps(workdir, stage)
        if steps and steps[-1] >= total:
            continue  # finished: a rerun reads only its best
        return (stage, steps[-1]) if len(steps) >= 2 else None
    return None


def snapshot(root: Path, leave_out: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of everything under ``root`` but ``leave_out``."""
    found = {}
    for folder, names, files in os.walk(root):
        names[:] = [n for n in names if Path(folder, n) not in leave_out]
        for name in names + files:
            path = Path(folder, name)
            if path not in leave_out:
                stat = path.lstat()
                found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def untracked_in_repository() -> set[str] | None:
    """The checkout's untracked and ignored files but Python's caches, and but Python and
    Markdown files, which a person may add while the test runs (a run writes neither); None
    outside a git checkout."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    if status.returncode:
        return None
    return {
        line[3:] for line in status.stdout.splitlines()
        if line[:2] in ("??", "!!") and not any(cache in line for cache in CACHES)
        and not line.endswith((".py", ".md"))
    }  # fmt: skip


class Soak:
    """Runs the interrupted runs of a schedule on ``workdir``, checking each outcome;
    ``damaged`` records the damaged steps ((stage, step) in order), ``trace`` a line per run
    and per damage for the failure messages."""

    def __init__(self, workdir: Path, cache: Path, logs: Path, cwd: Path, overrides: list[str]):
        self.workdir, self.cache, self.logs, self.cwd = workdir, cache, logs, cwd
        self.overrides = overrides
        self.runs = 0
        self.damaged: list[tuple[str, int]] = []
        self.trace: list[str] = []

    def run(self, interruption: Interruption | None) -> tuple[int, str]:
        """One run, interrupted as said or (None) to its end; its exit status and output."""
        self.runs += 1
        log = self.logs / f"run{self.runs}.log"
        process = start(self.workdir, self.cache, log, self.cwd, *self.overrides)
        try:
            sent = self.interrupt(process, interruption, log) if interruption else None
            code = process.wait(timeout=600)
        finally:
            process.kill()  # only if a failure above left it running
        output = log.read_text()
        steps = {stage: latest_steps(self.workdir, stage) for stage in TOTAL_STEPS}
        self.note(f"run {self.runs}: {interruption}, sent {sent}, exit {code}, {steps}")
        for text in NEVER_PRINTED:
            assert text not in output, self.failure(output)
        return code, output

    def interrupt(self, process: subprocess.Popen, interruption: Interruption, log: Path) -> bool:
        """Sends the signal at the interruption's moment; False when the run ended first."""
        writes: set[str] = set()
        deadline = None if interruption.lines else time.monotonic() + interruption.after_s
        while process.poll() is None:
            if interruption.write:
                writes.update(str(p) for p in self.workdir.glob("*/checkpoints/*/*")
                              if WRITE_MARK in p.name)  # fmt: skip
                if len(writes) >= interruption.write:
                    break
            elif deadline is None:
                if len(PROGRESS.findall(log.read_text())) >= interruption.lines:
                    deadline = time.monotonic() + interruption.after_s
            elif time.monotonic() >= deadline:
                break
            time.sleep(0.002 if interruption.write else 0.01)
        else:
            return False
        process.send_signal(getattr(signal, interruption.signal))
        return True

    def interrupted(self, interruption: Interruption) -> None:
        """An interrupted run, and what its exit must be for where the signal landed."""
        code, output = self.run(interruption)
        finished = code == 0 and "Training finished" in output
        if interruption.write:
            assert code == -signal.SIGKILL, self.failure(output)  # it ended before the writes
        elif interruption.signal == "SIGKILL":
            assert code == -signal.SIGKILL or finished, self.failure(output)
        elif code == 0:  # SIGTERM in training: the step ends, its checkpoint is saved
            stopped = STOPPED.search(output)
            assert stopped or finished, self.failure(output)  # or after the last step's check
            if stopped:  # the step it names was saved
                stage, step = stopped[1], int(stopped[2])
                assert step in latest_steps(self.workdir, stage), self.failure(output)
        else:  # before the handler is installed (start-up) or after training (evaluation):
            assert code == -signal.SIGTERM, self.failure(output)  # the default action, at once
            assert "SIGTERM received" not in output, self.failure(output)

    def damage_pending(self, pending: list[str]) -> None:
        """Damages the newest ``latest`` step of the stage in progress with the first of
        ``pending`` when that stage has an older step (else the damage waits for the next
        gap); the rerun must go back to the older step."""
        target = damage_target(self.workdir)
        if pending and target:
            stage, step = target
            how = pending.pop(0)
            damage(self.workdir / stage / "checkpoints" / "latest" / str(step), how, SEED)
            self.damaged.append(target)
            self.note(f"  {how} {stage} latest/{step}")

    def note(self, line: str) -> None:
        self.trace.append(line)
        print(line)  # shown with a failure, or with pytest -s

    def failure(self, output: str) -> str:
        return "\n".join(self.trace) + "\n" + output[-4000:]


def test_soak_killed_terminated_and_damaged_runs_on_a_corpus_resume_bitwise_equal(tmp_path):
    cache, logs, cwd = tmp_path / "xla", tmp_path / "logs", tmp_path / "cwd"
    workdir, straight = tmp_path / "interrupted", tmp_path / "straight"
    logs.mkdir()
    cwd.mkdir()  # the runs' working folder: a file written relative to it would show
    corpus = write_demo_corpus(tmp_path / "corpus")
    leave_out = (workdir, straight, cache, logs)
    outside_before = snapshot(tmp_path, leave_out)
    repository_before = untracked_in_repository()

    straight_run = start(straight, cache, logs / "straight.log", cwd)
    soak = Soak(workdir, cache, logs, cwd, corpus)
    try:
        pending: list[str] = []
        for interruption in soak_schedule():
            soak.interrupted(interruption)
            pending += [interruption.damage] if interruption.damage else []
            soak.damage_pending(pending)
        code, output = soak.run(None)  # to the end
        assert code == 0 and "Training finished" in output, soak.failure(output)
        assert straight_run.wait(timeout=600) == 0, (logs / "straight.log").read_text()[-3000:]
    finally:
        straight_run.kill()  # only if a failure above left it running
    straight_output = (logs / "straight.log").read_text()
    for text in NEVER_PRINTED:
        assert text not in straight_output, straight_output[-4000:]

    assert soak.damaged, "\n".join(soak.trace)  # the first run leaves two steps
    quarantined: Counter[tuple[str, int]] = Counter()  # damaged steps moved whole, with notes
    for stage in TOTAL_STEPS:
        for moved in (workdir / stage / "checkpoints" / "latest" / QUARANTINE).glob("*"):
            step = moved.name.split("-")[0]
            if (moved / step).is_dir():
                quarantined[stage, int(step)] += 1
                note = (moved / NOTE).read_text()
                assert f"Step {step} of " in note and "The run went on from step" in note, note
        assert latest_steps(workdir, stage)[-1] == TOTAL_STEPS[stage]
    assert quarantined == Counter(soak.damaged), "\n".join(soak.trace)

    for stage in TOTAL_STEPS:
        expected = trained.load_trained(straight, stage)
        resumed = trained.load_trained(workdir, stage)
        assert expected.step == resumed.step
        for a, b in zip(
            jax.tree.leaves(expected.variables), jax.tree.leaves(resumed.variables), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    assert (workdir / "results.json").read_text() == (straight / "results.json").read_text()
    (evaluation,) = (straight / "eval").glob("test-*/metrics.json")  # the test split's
    resumed_evaluation = workdir / "eval" / evaluation.parent.name / "metrics.json"
    assert json.loads(resumed_evaluation.read_text()) == json.loads(evaluation.read_text())
    test_line = re.compile(r"Test split \(.*; report")  # the report's folder differs
    assert test_line.findall(output) == test_line.findall(straight_output) != []

    assert snapshot(tmp_path, leave_out) == outside_before  # the corpus and the runs' folder
    assert untracked_in_repository() == repository_before
