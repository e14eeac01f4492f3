"""Strict JSON (RFC 8259) for every file and line the project writes: Python's ``json`` writes
NaN and infinities as the tokens ``NaN`` / ``Infinity``, which most other readers refuse.
A value that can legitimately be non-finite (the score of a clip in which nothing was
recognised is -inf, a metric over no samples may be NaN) is written as ``null``."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_null(value: Any) -> Any:
    """``value`` with every non-finite float, in dicts, lists and tuples too, as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(item) for item in value]
    return value


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps`` of ``value`` with non-finite floats as ``null``; never writes NaN or
    Infinity (``allow_nan=False``)."""
    return json.dumps(finite_or_null(value), allow_nan=False, **kwargs)
