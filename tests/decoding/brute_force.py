"""Exact CTC label probabilities by enumerating every frame path (tiny inputs only)."""

import itertools

import numpy as np


def label_probabilities(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """The probability of every label sequence, summed over its frame paths (blank = 0)."""
    positions, classes = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(classes), repeat=positions):
        labels = tuple(token for token, _ in itertools.groupby(path) if token != 0)
        totals[labels] = totals.get(labels, 0.0) + np.exp(
            sum(log_probs[t, c] for t, c in enumerate(path))
        )
    return totals
