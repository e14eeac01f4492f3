"""The suites of ``scripts/benchmark.py``, one module each; every module's docstring lists
the keys it reports.

``train`` (with ``peaks``), ``pipeline``, ``extract``, ``infer``,
``streaming``, ``export`` and ``browser``; ``common`` and ``models`` are what they share.
"""
