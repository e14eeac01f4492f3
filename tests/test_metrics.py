"""Gloss error rate edit counts and the accumulated recognition metrics."""

import numpy as np
import pytest

from whispersign_jax.training.metrics import NONE, EditCounts, RecognitionMetrics, align, counts_of


def edit_counts(reference, hypothesis) -> EditCounts:
    return counts_of(align(reference, hypothesis))


def levenshtein(reference: list[int], hypothesis: list[int]) -> int:
    """Plain two-row dynamic programme, independent of the module under test."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_token != hyp_token),  # match or substitution
                )
            )
        previous = current
    return previous[-1]


def counts(result: EditCounts) -> tuple[int, int, int, int]:
    return (result.substitutions, result.insertions, result.deletions, result.reference_length)


def test_identical_sequences_have_no_errors():
    assert counts(edit_counts([3, 1, 4, 1, 5], [3, 1, 4, 1, 5])) == (0, 0, 0, 5)
    assert edit_counts([], []).errors == 0


def test_pure_insertions():
    result = edit_counts([1, 2], [7, 1, 8, 2, 9])
    assert counts(result) == (0, 3, 0, 2)
    assert result.errors == 3


def test_pure_deletions():
    assert counts(edit_counts([1, 2, 3, 4, 5], [2, 4])) == (0, 0, 3, 5)
    assert counts(edit_counts([6, 6, 6], [])) == (0, 0, 3, 3)


def test_substitution():
    assert counts(edit_counts([1, 2, 3], [1, 9, 3])) == (1, 0, 0, 3)
    assert counts(edit_counts([1, 2], [3, 4])) == (2, 0, 0, 2)


def test_mixed_operations():
    # 1 2 3 4 -> 1 5 3 (4 deleted, 2 -> 5): one substitution, one deletion.
    assert counts(edit_counts([1, 2, 3, 4], [1, 5, 3])) == (1, 0, 1, 4)


def test_empty_reference_counts_every_hypothesis_gloss_as_an_insertion():
    assert counts(edit_counts([], [4, 5])) == (0, 2, 0, 0)


def test_errors_equal_levenshtein_distance_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(300):
        reference = rng.integers(1, 5, size=rng.integers(0, 8)).tolist()
        hypothesis = rng.integers(1, 5, size=rng.integers(0, 8)).tolist()
        result = edit_counts(reference, hypothesis)
        assert result.errors == levenshtein(reference, hypothesis), (reference, hypothesis)
        assert result.reference_length == len(reference)
        # An alignment consumes every gloss: S + D + matches = len(ref), S + I + matches = len(hyp).
        assert result.deletions - result.insertions == len(reference) - len(hypothesis), (
            reference,
            hypothesis,
        )
        assert min(result.substitutions, result.insertions, result.deletions) >= 0


def test_edit_counts_add_field_by_field():
    total = EditCounts(1, 2, 3, 4) + EditCounts(10, 20, 30, 40)
    assert counts(total) == (11, 22, 33, 44)
    assert total.errors == 66


def test_accuracy_requires_the_exact_sequence():
    metrics = RecognitionMetrics()
    metrics.add([3], [3])  # correct
    metrics.add([3], [3, 3])  # the right gloss plus an extra one: wrong
    metrics.add([2, 5], [5, 2])  # right glosses, wrong order: wrong
    metrics.add([2, 5], [2, 5])  # correct
    result = metrics.result()
    assert result["samples"] == 4
    assert result["accuracy"] == pytest.approx(0.5)


def test_top5_counts_a_reference_among_the_candidates():
    metrics = RecognitionMetrics()
    metrics.add([4], [1], top5=[[1], [2], [4], [3], [5]])  # third candidate
    metrics.add([4], [1], top5=[[1], [2], [3], [5], [6]])  # absent
    metrics.add([7], [7], top5=[[7], [1], [2], [3], [5]])  # first candidate
    metrics.add([2, 3], [2], top5=[(2,), (2, 3), (3,), (1,), (4,)])  # tuples are sequences too
    metrics.add([6], [6])  # no candidates given: the hypothesis alone
    result = metrics.result()
    assert result["accuracy"] == pytest.approx(2 / 5)
    assert result["top5_accuracy"] == pytest.approx(4 / 5)


def test_wer_is_errors_over_total_reference_length():
    metrics = RecognitionMetrics()
    samples = [
        ([1, 2, 3], [1, 2, 3]),  # 0 errors
        ([1, 2, 3, 4], [1, 9, 3]),  # 1 substitution + 1 deletion
        ([5], [5, 6, 7]),  # 2 insertions
        ([8, 8], []),  # 2 deletions
    ]
    for reference, hypothesis in samples:
        metrics.add(reference, hypothesis)
    result = metrics.result()
    assert result["wer"] == pytest.approx(6 / 10)  # not the mean of per-sample rates
    assert (result["substitutions"], result["insertions"], result["deletions"]) == (1, 2, 3)
    assert result["accuracy"] == pytest.approx(1 / 4)


def test_empty_metrics_do_not_divide_by_zero():
    result = RecognitionMetrics().result()
    assert result == {
        "accuracy": 0.0,
        "top5_accuracy": 0.0,
        "wer": 0.0,
        "substitutions": 0,
        "insertions": 0,
        "deletions": 0,
        "samples": 0,
    }


def test_alignment_pairs_glosses_and_marks_insertions_and_deletions():
    assert align([1, 2, 3, 4], [1, 5, 3]) == [(1, 1), (2, 5), (3, 3), (4, NONE)]
    assert align([1, 2], [7, 1, 2]) == [(NONE, 7), (1, 1), (2, 2)]
    assert align([], [4]) == [(NONE, 4)] and align([4], []) == [(4, NONE)]


def test_confusion_matrix_and_per_gloss_accuracy():
    metrics = RecognitionMetrics()
    metrics.add([1], [1])
    metrics.add([1], [2])  # 1 recognised as 2
    metrics.add([2], [2, 3])  # 3 inserted
    metrics.add([3, 1], [3])  # 1 deleted
    matrix = metrics.confusion_matrix(num_glosses=3)
    expected = np.zeros((4, 4), int)
    expected[1, 1] = expected[1, 2] = expected[2, 2] = expected[3, 3] = 1
    expected[NONE, 3] = 1  # insertion
    expected[1, NONE] = 1  # deletion
    np.testing.assert_array_equal(matrix, expected)
    per_gloss = metrics.per_gloss_accuracy(num_glosses=3)
    assert per_gloss[1] == {"signed": 3, "recognised": 1, "accuracy": pytest.approx(1 / 3)}
    assert per_gloss[2]["accuracy"] == 1.0 and per_gloss[3]["accuracy"] == 1.0
    # The matrix holds the same edits as the error rate.
    assert matrix[NONE].sum() == metrics.edits.insertions
    assert matrix[:, NONE].sum() == metrics.edits.deletions
    off_diagonal = matrix[1:, 1:].sum() - np.trace(matrix[1:, 1:])
    assert off_diagonal == metrics.edits.substitutions
