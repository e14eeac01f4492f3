"""Reference CTC computations for the decoder tests: the collapse of one frame path, and exact
label probabilities by enumerating every frame path (tiny inputs only)."""

import itertools

import numpy as np

BLANK = 0


def collapse(frame_ids, length: int) -> list[int]:
    """The labels of a frame path's first ``length`` frames: repeats merged, then blanks
    dropped (``0 3 3 0 3 5 5`` -> ``3 3 5``)."""
    out, previous = [], BLANK
    for token in list(frame_ids)[:length]:
        if token != previous and token != BLANK:
            out.append(int(token))
        previous = token
    return out


def label_probabilities(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """The probability of every label sequence, summed over its frame paths (blank = 0)."""
    positions, classes = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(classes), repeat=positions):
        labels = tuple(token for token, _ in itertools.groupby(path) if token != BLANK)
        totals[labels] = totals.get(labels, 0.0) + np.exp(
            sum(log_probs[t, c] for t, c in enumerate(path))
        )
    return totals
