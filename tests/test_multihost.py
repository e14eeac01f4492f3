"""Two real processes on localhost (``jax.distributed`` over CPU collectives, 2 devices each)
train all three stages of the quick demo, with validation, best checkpoints and evaluation,
and match one process on the same global mesh of 4 devices. Checkpoints move between the two
setups in both directions. The two processes read the demo's clips from a corpus on disk
(each reads only its own rows of every batch), the one process holds them in memory.

Tolerance: the two setups run the same SPMD program; only the collectives differ (gloo across
processes, in-process otherwise), which may sum in another order. Losses and parameters must
agree to rtol 1e-5 (validation losses too); decoded glosses, and so every recognition metric,
exactly.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import REPO, read_scalars
from demo_corpus import write_demo_corpus

from whispersign_jax.runs import trained
from whispersign_jax.training import evaluator

GLOBAL_DEVICES = 4
STAGES = ("stage1", "stage2", "stage3")
LOSS_TAGS = ("loss/total", "loss/ctc", "grad_norm")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def train(workdir, processes: int, *overrides: str) -> None:
    """``python -m whispersign_jax.main`` on the quick demo in ``processes`` processes that
    together hold GLOBAL_DEVICES CPU devices; fails with each process's log tail."""
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={GLOBAL_DEVICES // processes}",
    }
    command = [
        sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py:quick",
        f"--workdir={workdir}", "--config.evaluate_test=False", *overrides,
    ]  # fmt: skip
    if processes > 1:
        command += [
            "--config.distributed.initialize=True",
            f"--config.distributed.coordinator_address=localhost:{free_port()}",
            f"--config.distributed.num_processes={processes}",
        ]
    logs = [workdir.parent / f"{workdir.name}-process{i}.log" for i in range(processes)]
    running = [
        subprocess.Popen(
            [*command, f"--config.distributed.process_id={i}"] if processes > 1 else command,
            cwd=REPO,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for i, log in enumerate(logs)
    ]
    codes = [process.wait(timeout=900) for process in running]
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
    assert codes == [0] * processes, tails


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    return write_demo_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, corpus):
    """Workdirs of the quick demo trained by one process (clips in memory) and by two (clips
    read from the corpus)."""
    root = tmp_path_factory.mktemp("multihost")
    train(root / "one", 1)
    train(root / "two", 2, *corpus)
    return root / "one", root / "two"


def assert_same_training(workdir_a, workdir_b, stages=STAGES) -> None:
    results_a = json.loads((workdir_a / "results.json").read_text())
    results_b = json.loads((workdir_b / "results.json").read_text())
    for stage in stages:  # validation of the best checkpoint: decoded exactly, losses closely
        a, b = results_a[stage], results_b[stage]
        assert {k: v for k, v in a.items() if not k.startswith("loss/")} == {
            k: v for k, v in b.items() if not k.startswith("loss/")
        }, stage
        for name in ("loss/total", "loss/ctc"):
            np.testing.assert_allclose(a[name], b[name], rtol=1e-5, err_msg=f"{stage} {name}")
        for tag in LOSS_TAGS:
            a, b = read_scalars(workdir_a / stage, tag), read_scalars(workdir_b / stage, tag)
            assert len(a) == len(b) > 0, (stage, tag)
            np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=f"{stage} {tag}")


def assert_close_variables(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def test_multihost_two_processes_reading_a_corpus_match_one_process(runs):
    one, two = runs
    assert_same_training(one, two)
    assert sorted(p.name for p in two.iterdir() if p.is_file()) == [
        ".lock",
        "config.json",
        "results.json",
    ]  # written once, by process 0 (which alone holds the workdir lock)
    assert len(list((two / "stage2").glob("events.out.tfevents.*"))) == 1


def test_multihost_checkpoint_of_two_processes_restores_on_one(runs):
    one, two = runs
    from_one, from_two = trained.load_trained(one), trained.load_trained(two)
    assert from_one.step == from_two.step and from_one.stage == from_two.stage == "stage3"
    assert_close_variables(from_one.variables, from_two.variables)
    evaluations = [
        evaluator.evaluate_workdir(str(w), split="test", write_report=False) for w in (one, two)
    ]
    assert evaluations[0] == evaluations[1]
    assert evaluations[0]["samples"] == 54  # 6 glosses x 3 test signers x 3 clips


def test_multihost_checkpoint_of_one_process_restores_on_two(runs, corpus, tmp_path):
    one, _ = runs
    three = tmp_path / "three"
    train(three, 2, "--config.run_stages=('stage3',)", f"--config.init_checkpoint={one}/stage2",
          *corpus)  # fmt: skip
    assert_same_training(one, three, stages=("stage3",))  # both began at one's stage-2 best


def test_multihost_batch_sizes_must_divide_the_devices():
    from configs import demo
    from whispersign_jax.training.train import check_batch_sizes

    config = demo.get_config("quick")  # batch 16 in every stage, eval batch 32
    check_batch_sizes(config, 8)
    config.data.eval_batch_size = 30
    with pytest.raises(ValueError, match=r"config.data.eval_batch_size=30: .*multiple of 8"):
        check_batch_sizes(config, 8)


def test_multihost_initialize_passes_only_what_is_given(monkeypatch):
    from configs import default
    from whispersign_jax.training import distributed

    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(jax.config, "update", lambda *args: calls.append(args))
    settings = default.get_config().distributed
    distributed.initialize(settings)  # off by default: nothing happens
    assert calls == []
    settings.initialize = True
    distributed.initialize(settings)  # a TPU pod or Slurm: JAX detects everything
    joining = {"initialization_timeout": 300}  # seconds: config.distributed's default
    assert calls == [("jax_cpu_collectives_implementation", "gloo"), joining]
    calls.clear()
    settings.coordinator_address, settings.num_processes, settings.process_id = "h:1", 4, 0
    distributed.initialize(settings)
    given = {"coordinator_address": "h:1", "num_processes": 4, "process_id": 0}
    assert calls[-1] == {**given, **joining}


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (dict(num_processes=-2), "num_processes=-2: give the number of processes"),
        (dict(process_id=-3), "process_id=-3: give this host's process number"),
        (dict(num_processes=2, process_id=2), "process_id=2 is not below .*num_processes=2"),
        (dict(num_processes=2, process_id=1.5), "process_id=1.5: give"),
        (dict(num_processes="2", process_id=0), "num_processes='2': give"),
        (dict(num_processes=2, process_id=True), "process_id=True: give"),
        (dict(initialization_timeout_s=0), "initialization_timeout_s=0: give the seconds"),
    ],
)
def test_minor_distributed_settings_name_the_setting(monkeypatch, values, says):
    """Impossible process counts and ids fail as a ValueError naming the setting (one line
    at the command line) before JAX sees them."""
    import ml_collections

    from configs import default
    from whispersign_jax.training import distributed

    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: pytest.fail("joined"))
    settings = ml_collections.ConfigDict(
        {**default.get_config().distributed.to_dict(), "initialize": True, **values}
    )
    with pytest.raises(ValueError, match=f"^config.distributed.{says}"):
        distributed.initialize(settings)


def test_minor_missing_coordinator_ends_in_one_line(tmp_path):
    """Process 1 of 2 whose coordinator (process 0) never starts: after
    initialization_timeout_s, one line naming the address, exit status 1 (JAX alone would
    wait, then abort with a C++ stack trace)."""
    address = f"localhost:{free_port()}"  # nobody listens there
    command = [
        sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py:quick",
        f"--workdir={tmp_path / 'run'}", "--config.distributed.initialize=True",
        f"--config.distributed.coordinator_address={address}",
        "--config.distributed.num_processes=2", "--config.distributed.process_id=1",
        "--config.distributed.initialization_timeout_s=2",
    ]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("WHISPERSIGN_TRACEBACK", None)
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: config.distributed.coordinator_address={address}: no "), last
    assert "within 2 s" in last and "Start process 0" in last, last
    assert not (tmp_path / "run").exists()  # nothing written by a process that never joined
