"""Damage to a checkpoint step as the recovery tests inflict it."""

from pathlib import Path

import numpy as np


def damage(step_dir: Path, how: str, seed: int = 0) -> None:
    """Truncates the largest file of a step to a third (``how="truncate"``), or overwrites
    4 KB in its middle with seeded random bytes (``"overwrite"``)."""
    target = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 3]
    else:
        middle = len(data) // 2
        data[middle : middle + 4096] = np.random.default_rng(seed).bytes(4096)
    target.write_bytes(bytes(data))
