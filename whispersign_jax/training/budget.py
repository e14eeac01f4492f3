"""How long a stage trains and when it validates (docs/design.md, "Training budgets").

A stage runs ``epochs`` passes over its data, capped at ``max_steps`` so that a large
dataset does not multiply the time; it validates every ``eval_every_steps`` steps (or every
``eval_every_epochs`` epochs), and stops early once the validation loss has not improved for
``patience`` validations. No JAX here: the numbers are plain Python.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def stage_steps(epochs: int, max_steps: int, steps_per_epoch: int) -> int:
    """Optimizer steps of a stage: ``epochs`` epochs, at most ``max_steps`` (0: no cap)."""
    if epochs < 1 or max_steps < 0:
        raise ValueError(
            f"a stage needs epochs >= 1 and max_steps >= 0 (0: no cap), got epochs={epochs}, "
            f"max_steps={max_steps}."
        )
    steps = epochs * steps_per_epoch
    return min(steps, max_steps) if max_steps else steps


def validation_interval(eval_every_epochs: int, eval_every_steps: int, steps_per_epoch: int) -> int:
    """Steps between validations: ``eval_every_steps`` when set (> 0), else whole epochs."""
    if eval_every_steps < 0 or eval_every_epochs < 1:
        raise ValueError(
            "config.eval_every_steps must be >= 0 (0: use config.eval_every_epochs) and "
            f"config.eval_every_epochs >= 1, got {eval_every_steps} and {eval_every_epochs}."
        )
    return eval_every_steps or max(1, eval_every_epochs * steps_per_epoch)


@dataclasses.dataclass
class EarlyStopping:
    """Stops a stage when the validation loss has not fallen by more than ``min_delta``
    (relative: 0.01 = 1%) for ``patience`` validations in a row; ``patience`` 0 never stops.

    Its state travels in the latest checkpoint's metadata, so a resumed run stops where an
    uninterrupted one would.
    """

    patience: int = 0
    min_delta: float = 0.0
    best_loss: float = math.inf
    best_step: int = 0
    stale: int = 0  # validations since the best one

    def __post_init__(self) -> None:
        if self.patience < 0 or self.min_delta < 0:
            raise ValueError(
                "config.early_stopping needs patience >= 0 (0: off) and min_delta >= 0, got "
                f"patience={self.patience}, min_delta={self.min_delta}."
            )

    def update(self, loss: float, step: int) -> bool:
        """Records one validation loss; True when the stage should stop now. A non-finite loss
        is no improvement."""
        first = math.isinf(self.best_loss)
        if math.isfinite(loss) and (first or loss < self.best_loss * (1.0 - self.min_delta)):
            self.best_loss, self.best_step, self.stale = float(loss), step, 0
        else:
            self.stale += 1
        return bool(self.patience) and self.stale >= self.patience

    def reason(self) -> str:
        return (
            f"validation loss has not improved by more than {self.min_delta:.0%} for "
            f"{self.stale} validations (best {self.best_loss:.4f} at step {self.best_step})"
        )

    def state(self) -> dict[str, Any]:
        """What resuming needs (JSON)."""
        best = self.best_loss if math.isfinite(self.best_loss) else None  # JSON has no inf
        return {"best_loss": best, "best_step": self.best_step, "stale": self.stale}

    def restore(self, state: dict[str, Any] | None) -> None:
        if state:
            best = state["best_loss"]
            self.best_loss = math.inf if best is None else float(best)
            self.best_step, self.stale = int(state["best_step"]), int(state["stale"])
