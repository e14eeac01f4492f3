"""Shared pieces of the fuzz tests (``pytest -k fuzz``): hypothesis settings and the rule every
case follows: it ends in a clear error that names the file, a counted skip, or a result.

Run ``pytest -k fuzz --hypothesis-show-statistics`` to see the cases each test ran and how
many inputs were rejected (the ``rejected: ...`` / ``accepted`` events).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis.control import currently_in_test_context

# Exceptions that count as a clear refusal: the project's own error types all derive from
# these (CorruptModelError, UnsafePathError, LayoutError: ValueError).
CLEAR_ERRORS = (ValueError, FileNotFoundError, FileExistsError)


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic (derandomized, no example database) and without deadlines: the same
    cases on every machine and in CI. ``FUZZ_EXAMPLES_SCALE`` multiplies the case counts
    for a longer local hunt."""
    scale = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
    return settings(
        max_examples=max(1, int(max_examples * scale)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def event(name: str) -> None:
    """A hypothesis event (counted in ``--hypothesis-show-statistics``) inside a test case."""
    if currently_in_test_context():
        hypothesis_event(name)


def expect_clear(function: Callable, names: Iterable[str | Path] = ()):
    """``function()``'s result, or None when it raised one of ``CLEAR_ERRORS`` whose message
    names one of ``names`` (a file, a folder); any other exception propagates and fails the
    test. Records the outcome as a hypothesis event."""
    names = [str(name) for name in names]
    try:
        result = function()
    except CLEAR_ERRORS as error:
        message = str(error)
        assert message.strip(), f"{type(error).__name__} without a message"
        if names:
            assert any(name in message for name in names), (
                f"{type(error).__name__} does not name {names}: {message}"
            )
        assert "Traceback" not in message
        event(f"rejected: {type(error).__name__}")
        return None
    event("accepted")
    return result


def check_skips(failures: Iterable[tuple[str, str]]) -> int:
    """Every skipped entry of a reader's ``SourceResult`` has a reason naming its origin (or
    a path in it); returns how many were skipped."""
    count = 0
    for origin, reason in failures:
        assert reason.strip(), f"{origin}: skipped without a reason"
        assert origin in reason or Path(origin).name in reason, (origin, reason)
        assert not reason.startswith(("IndexError", "KeyError", "TypeError", "struct.error")), (
            reason
        )
        count += 1
    if count:
        event("skipped entries")
    return count


def mutate(data: bytes, cut: int | None, flips: Iterable[tuple[int, int]]) -> bytes:
    """``data`` truncated to ``cut`` bytes (None: whole) with bit ``bit`` of byte ``index %
    len`` flipped for each ``(index, bit)``."""
    buffer = bytearray(data if cut is None else data[:cut])
    for index, bit in flips:
        if buffer:
            buffer[index % len(buffer)] ^= 1 << (bit % 8)
    return bytes(buffer)
