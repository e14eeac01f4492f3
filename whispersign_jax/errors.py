"""The failures a user's input, files or environment cause, as opposed to bugs.

Every console script ends on one of them with one line on stderr naming the cause and the fix,
exit status 1 (``cli.one_line_errors``): ``OSError`` (missing or unreadable files, ports),
``ValueError`` (bad settings and data), ``ImportError`` (a missing optional extra),
``FloatingPointError`` (training that diverged) and ``WhisperSignError`` (the package's own,
such as a corrupt checkpoint or a workdir in use). ``WHISPERSIGN_TRACEBACK=1`` shows the
traceback instead. Imports nothing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable


class WhisperSignError(Exception):
    """An expected failure that is not a ``ValueError`` or ``OSError``; its message says what
    to do."""


class ModelFileError(WhisperSignError):
    """An exported model file that its runtime cannot load or run (damaged, or another
    format)."""


EXPECTED_ERRORS = (OSError, ValueError, ImportError, FloatingPointError, WhisperSignError)

TRACEBACK_VARIABLE = "WHISPERSIGN_TRACEBACK"  # set to 1: expected errors show their traceback


def one_line(error: BaseException) -> str:
    """The error's message on one line (its type's name when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def one_line_errors(function: Callable) -> Callable:
    """``function`` whose expected errors end the command with ``error: <message>`` on one
    line of stderr and exit status 1; ``WHISPERSIGN_TRACEBACK=1`` shows the traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except EXPECTED_ERRORS as error:
            if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
                raise
            raise SystemExit(f"error: {one_line(error)}") from None

    return wrapper
