"""The browser tests' demo model (``test_browser.py``), trained in a background process that
starts as soon as those tests are collected: its 2-3 minutes of training overlap the tests
that run before them, which leave much of the second core idle."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, load_script

# The README's demo with stage 2 halved (it reaches validation accuracy 1.0 by epoch 28 of 60);
# the test split is not evaluated: the browser tests do not read it.
DEMO_TRAINING = [
    sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py",
    "--config.stages.stage2.epochs=30", "--config.evaluate_test=False",
]  # fmt: skip
STARTED = pytest.StashKey["DemoTraining"]()


class DemoTraining:
    """``DEMO_TRAINING`` running in a fresh folder, its output in a log file there."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="whispersign-browser-demo-"))
        self.workdir = self.root / "demo"
        self.log = self.root / "training.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*DEMO_TRAINING, f"--workdir={self.workdir}"],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def trained_workdir(self) -> Path:
        """Waits for the training to end; its workdir."""
        code = self.process.wait()
        assert code == 0, self.log.read_text()[-3000:]
        return self.workdir

    def discard(self) -> None:
        self.process.kill()  # nothing happens when it has ended
        self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def browser_tests_can_run() -> bool:
    """Chromium, ffmpeg, Node.js and Playwright are installed (checked without installing)."""
    browser_support = load_script("browser_support")
    installed = not browser_support.missing_tools()
    return installed and importlib.util.find_spec("playwright") is not None


def pytest_collection_finish(session):
    selected = any(item.path.name == "test_browser.py" for item in session.items)
    if selected and not session.config.option.collectonly and browser_tests_can_run():
        session.config.stash[STARTED] = DemoTraining()


def pytest_unconfigure(config):
    training = config.stash.get(STARTED, None)
    if training is not None:
        training.discard()


@pytest.fixture(scope="session")
def trained_demo(pytestconfig) -> Callable[[], Path]:
    """``trained_demo()``: the workdir of the training started at collection, once it has
    ended; where none was started (the tests installed the browser tools after collection),
    it starts one first."""

    def trained_workdir() -> Path:
        if STARTED not in pytestconfig.stash:
            pytestconfig.stash[STARTED] = DemoTraining()
        return pytestconfig.stash[STARTED].trained_workdir()

    return trained_workdir
