"""Other numeric paths of XLA on the same CPU, to catch tests that depend on float rounding.

XLA's CPU results differ in the last bits between CPU models: matrix products and
convolutions run in YNNPACK, which picks its kernels for the CPU at run time (AVX2, AVX-512,
AMX ...), and XLA's own loops are vectorised for the widest ISA the CPU has. A test that
passes on one CPU and fails on another depends on those bits. Each path below changes them on
any x86-64 CPU, so such a test fails here too:

    python -m pytest --numeric-path=eigen-dots     # or sse4_2, single-thread

(``XLA_FLAGS`` set by hand works as well; the option only names the known paths.)
"""

from __future__ import annotations

NUMERIC_PATHS = {
    # Matrix products and convolutions in Eigen instead of YNNPACK.
    "eigen-dots": "--xla_cpu_experimental_ynn_fusion_type=-individual_dot,-individual_convolution",
    # XLA's generated loops vectorised with 128-bit SSE4.2 instead of AVX2/AVX-512.
    "sse4_2": "--xla_cpu_max_isa=SSE4_2",
    # One thread for Eigen's operations: other partial sums.
    "single-thread": "--xla_cpu_multi_thread_eigen=false",
}


def xla_flags(path: str, current: str = "") -> str:
    """``XLA_FLAGS`` with the flags of numeric ``path`` added to ``current``."""
    if path not in NUMERIC_PATHS:
        raise ValueError(f"unknown numeric path {path!r}: one of {', '.join(NUMERIC_PATHS)}")
    return f"{current} {NUMERIC_PATHS[path]}".strip()
