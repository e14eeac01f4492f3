"""Recognition metrics: gloss error rate with its edit operations, exact-match accuracy."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


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


def edit_counts(reference: Sequence[int], hypothesis: Sequence[int]) -> EditCounts:
    """Levenshtein alignment of two gloss sequences, split into S / I / D."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    # cost[i][j] = (errors, substitutions, insertions, deletions) for ref[:i] vs hyp[:j]
    cost = [[(0, 0, 0, 0)] * cols for _ in range(rows)]
    for i in range(1, rows):
        cost[i][0] = (i, 0, 0, i)
    for j in range(1, cols):
        cost[0][j] = (j, 0, j, 0)
    for i in range(1, rows):
        for j in range(1, cols):
            same = reference[i - 1] == hypothesis[j - 1]
            e, s, ins, d = cost[i - 1][j - 1]
            diagonal = (e + (not same), s + (not same), ins, d)
            e, s, ins, d = cost[i][j - 1]
            insertion = (e + 1, s, ins + 1, d)
            e, s, ins, d = cost[i - 1][j]
            deletion = (e + 1, s, ins, d + 1)
            cost[i][j] = min(diagonal, insertion, deletion)
    _, s, ins, d = cost[-1][-1]
    return EditCounts(s, ins, d, len(reference))


@dataclasses.dataclass
class RecognitionMetrics:
    """Accumulates WER and accuracy over samples."""

    edits: EditCounts = dataclasses.field(default_factory=EditCounts)
    samples: int = 0
    correct: int = 0
    correct_top5: int = 0

    def add(
        self,
        reference: Sequence[int],
        hypothesis: Sequence[int],
        top5: Sequence[Sequence[int]] | None = None,
    ) -> None:
        """``top5``: the five best hypotheses (the first one is ``hypothesis``)."""
        reference, hypothesis = list(reference), list(hypothesis)
        self.edits = self.edits + edit_counts(reference, hypothesis)
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
