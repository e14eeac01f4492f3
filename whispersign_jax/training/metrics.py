"""Recognition metrics: gloss error rate with its edit operations, exact-match and top-5
accuracy, per-gloss accuracy and a confusion matrix from the same alignment."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np

NONE = 0  # confusion row / column of an inserted / deleted gloss (the blank id is no gloss)


@dataclasses.dataclass
class EditCounts:
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.insertions + self.deletions

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(
            *(
                a + b
                for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
            )
        )


def align(reference: Sequence[int], hypothesis: Sequence[int]) -> list[tuple[int, int]]:
    """Levenshtein alignment as ``(reference gloss, hypothesis gloss)`` pairs, with ``NONE``
    for the missing side of an insertion or deletion. Among the alignments with fewest errors
    it takes the one with fewest substitutions, then fewest insertions."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    # cost[i][j] = (errors, substitutions, insertions, deletions) for ref[:i] vs hyp[:j]
    cost = [[(0, 0, 0, 0)] * cols for _ in range(rows)]
    move = [[""] * cols for _ in range(rows)]
    for i in range(1, rows):
        cost[i][0], move[i][0] = (i, 0, 0, i), "deletion"
    for j in range(1, cols):
        cost[0][j], move[0][j] = (j, 0, j, 0), "insertion"
    for i in range(1, rows):
        for j in range(1, cols):
            different = reference[i - 1] != hypothesis[j - 1]
            e, s, ins, d = cost[i - 1][j - 1]
            options = [((e + different, s + different, ins, d), "diagonal")]
            e, s, ins, d = cost[i][j - 1]
            options.append(((e + 1, s, ins + 1, d), "insertion"))
            e, s, ins, d = cost[i - 1][j]
            options.append(((e + 1, s, ins, d + 1), "deletion"))
            cost[i][j], move[i][j] = min(options)
    pairs, i, j = [], rows - 1, cols - 1
    while i or j:
        step = move[i][j]
        if step == "diagonal":
            pairs.append((reference[i - 1], hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif step == "insertion":
            pairs.append((NONE, hypothesis[j - 1]))
            j -= 1
        else:
            pairs.append((reference[i - 1], NONE))
            i -= 1
    return pairs[::-1]


def counts_of(pairs: Sequence[tuple[int, int]]) -> EditCounts:
    """The S / I / D counts of an ``align`` result."""
    substitutions = sum(r != NONE and h != NONE and r != h for r, h in pairs)
    insertions = sum(r == NONE for r, _ in pairs)
    deletions = sum(h == NONE for _, h in pairs)
    return EditCounts(substitutions, insertions, deletions, len(pairs) - insertions)


@dataclasses.dataclass
class RecognitionMetrics:
    """Accumulates WER and accuracy over samples."""

    edits: EditCounts = dataclasses.field(default_factory=EditCounts)
    samples: int = 0
    correct: int = 0
    correct_top5: int = 0
    # (reference gloss, hypothesis gloss) -> count over every alignment, NONE for I / D
    pairs: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(
        self,
        reference: Sequence[int],
        hypothesis: Sequence[int],
        top5: Sequence[Sequence[int]] | None = None,
    ) -> None:
        """``top5``: the five best hypotheses (the first one is ``hypothesis``)."""
        reference, hypothesis = list(reference), list(hypothesis)
        pairs = align(reference, hypothesis)
        self.pairs.update(pairs)
        self.edits = self.edits + counts_of(pairs)
        self.samples += 1
        self.correct += reference == hypothesis
        candidates = [hypothesis] if top5 is None else [list(h) for h in top5]
        self.correct_top5 += reference in candidates or reference == hypothesis

    def result(self) -> dict[str, float | int]:
        reference_length = max(self.edits.reference_length, 1)
        return {
            "accuracy": self.correct / max(self.samples, 1),
            "top5_accuracy": self.correct_top5 / max(self.samples, 1),
            "wer": self.edits.errors / reference_length,
            "substitutions": self.edits.substitutions,
            "insertions": self.edits.insertions,
            "deletions": self.edits.deletions,
            "samples": self.samples,
        }

    def confusion_matrix(self, num_glosses: int) -> np.ndarray:
        """(N + 1, N + 1) counts: row = reference gloss, column = recognised gloss; row 0
        counts insertions, column 0 deletions."""
        matrix = np.zeros((num_glosses + 1, num_glosses + 1), np.int64)
        for (reference, hypothesis), count in self.pairs.items():
            matrix[reference, hypothesis] += count
        return matrix

    def per_gloss_accuracy(self, num_glosses: int) -> dict[int, dict[str, float | int]]:
        """For every gloss in the references: how often it was signed and recognised there."""
        matrix = self.confusion_matrix(num_glosses)
        signed = matrix.sum(axis=1)
        return {
            gloss: {
                "signed": int(signed[gloss]),
                "recognised": int(matrix[gloss, gloss]),
                "accuracy": float(matrix[gloss, gloss] / signed[gloss]),
            }
            for gloss in range(1, num_glosses + 1)
            if signed[gloss]
        }
