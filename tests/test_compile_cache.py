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
