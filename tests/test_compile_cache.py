"""The persistent compilation cache: on by default, one setting turns it off, and a second
process loads what the first compiled."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, frameworks_imported_by

from whispersign_jax.cli import compile_cache

# Compiles one small program and prints how many programs came from the persistent cache.
COMPILE_ONCE = """
import sys
import jax
from whispersign_jax.cli import compile_cache
hits = []
jax.monitoring.register_event_listener(
    lambda event, **_: hits.append(event) if event.endswith("/cache_hits") else None
)
print(compile_cache.enable(sys.argv[1]))
jax.jit(lambda x: (x @ x.T).sum())(jax.numpy.ones((8, 8))).block_until_ready()
print(len(hits))
"""


def compile_in_new_process(directory: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", COMPILE_ONCE, directory]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_second_process_loads_the_program_from_the_cache(tmp_path):
    directory = str(tmp_path / "xla")
    assert compile_in_new_process(directory) == [directory, "0"]  # compiled, then written
    assert any(Path(directory).iterdir())
    used, hits = compile_in_new_process(directory)
    assert (used, int(hits) > 0) == (directory, True)  # loaded (the jit and jnp.ones)
    assert compile_in_new_process("") == ["None", "0"]  # off


def test_the_directory_defaults_to_the_user_cache_and_the_variable_overrides_it(monkeypatch):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    assert compile_cache.default_directory() == "~/.cache/whispersign_jax/xla"
    monkeypatch.setenv(compile_cache.ENV_VAR, "")
    assert compile_cache.default_directory() == ""
    assert compile_cache.enable() is None  # "" leaves the cache off


def test_training_config_carries_the_directory(monkeypatch):
    from configs import default

    monkeypatch.setenv(compile_cache.ENV_VAR, "/tmp/somewhere")
    assert default.get_config().compile_cache_dir == "/tmp/somewhere"


def test_import_pulls_in_no_heavy_framework():
    assert frameworks_imported_by("whispersign_jax.cli.compile_cache") == []


# A train-like step (one output) or another program of the same input (two outputs), its
# first run logged by compile_log.FirstCompiles; ends like a command (errors.one_line_errors).
STEP_OR_OTHER = """
import sys
import jax
import numpy as np
from whispersign_jax.cli import compile_cache
from whispersign_jax.errors import one_line_errors
from whispersign_jax.training.compile_log import FirstCompiles

def step(batch):
    return batch["keypoints"].sum()

def other(batch):
    return batch["keypoints"].sum(), batch["keypoints"].mean()

@one_line_errors
def main(directory, which):
    compile_cache.enable(directory)
    function = jax.jit(step if which == "step" else other)
    wrapped = FirstCompiles("demo").wrap(function, "train step")
    print(wrapped({"keypoints": np.ones((2, 3, 4), np.float32)}))

main(*sys.argv[1:])
"""


def run_step(directory: Path, which: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    env.pop("WHISPERSIGN_TRACEBACK", None)
    command = [sys.executable, "-c", STEP_OR_OTHER, str(directory), which]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_minor_an_entry_under_the_wrong_key_names_the_cache(tmp_path):
    """The other program's entry copied under the step's key: the step's first run fails in
    one line that names the cache folder and says to delete it (JAX alone ends in a traceback,
    ``AssertionError: (2, 1)``)."""
    directory = tmp_path / "xla"
    for which in ("step", "other"):
        assert run_step(directory, which).returncode == 0
    (step_entry,) = directory.glob("jit_step-*-cache")
    (other_entry,) = directory.glob("jit_other-*-cache")
    step_entry.write_bytes(other_entry.read_bytes())
    result = run_step(directory, "step")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    says = f"with its compiled program loaded from the compilation cache {directory} ("
    assert last.startswith(f"error: the demo train step failed on its first run, {says}"), last
    assert "delete that folder (or the entry) and rerun" in last, last
    step_entry.unlink()  # as the message says: compiled afresh
    assert run_step(directory, "step").stdout.split() == ["24.0"]
