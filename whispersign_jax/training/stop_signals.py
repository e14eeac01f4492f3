"""SIGTERM and SIGINT end training cleanly: the current step finishes, a checkpoint is saved,
and the run exits 0, so a preempted job resumes where it stopped (docs/design.md, "Training")."""

from __future__ import annotations

import logging
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingStoppedError(Exception):
    """Raised after the checkpoint of a requested stop is saved."""

    def __init__(self, reason: str, stage: str, step: int):
        super().__init__(
            f"{reason}: stopped {stage} at step {step} with a checkpoint saved; rerun the same "
            "command to resume."
        )


class StopSignals:
    """Context manager that turns SIGTERM / SIGINT into a request (``requested``) checked
    between steps. A second signal of the same kind gets the default behaviour (abort now).

    Installs nothing off the main thread, or in multi-process runs, where JAX's preemption
    service owns SIGTERM and every process must stop at the same step
    (``CheckpointManager.reached_preemption``)."""

    def __init__(self, install: bool = True):
        self.install = install and threading.current_thread() is threading.main_thread()
        self.requested: str | None = None
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        self.requested = signal.Signals(signum).name
        signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
        logging.warning(
            "%s received: finishing the current step, saving a checkpoint and exiting "
            "(send it again to abort at once).",
            self.requested,
        )

    def __enter__(self) -> StopSignals:
        if self.install:
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()
