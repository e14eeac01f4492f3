"""Multi-host runs: joining the processes (``jax.distributed``) and reading results back.

One process per host (a TPU VM, a GPU node, a Slurm task) runs the same command. With
``config.distributed.initialize`` each calls ``jax.distributed.initialize()`` before any other
JAX work: on Cloud TPU pods and Slurm / Open MPI clusters JAX finds the coordinator, the
process count and its own id by itself; elsewhere they come from the config
(docs/scaling.md).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import jax
import ml_collections
from jax.experimental import multihost_utils

SETTING = "config.distributed"


def check_settings(settings: ml_collections.ConfigDict) -> None:
    """A ValueError naming the setting when the process count, process id or timeout cannot
    be right (wrong type, out of range), before JAX would fail on it with a traceback."""
    count, index = settings.num_processes, settings.process_id
    wanted = {  # setting: (value, least allowed, what to give)
        "num_processes": (count, 0, "the number of processes (>= 1), or 0 to detect it"),
        "process_id": (index, -1, "this host's process number 0 .. N-1, or -1 to detect it"),
    }
    for name, (value, least, meaning) in wanted.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{SETTING}.{name}={value!r}: give {meaning}")
    if 0 < count <= index:
        raise ValueError(
            f"{SETTING}.process_id={index} is not below {SETTING}.num_processes={count}: "
            f"process numbers run 0 .. {count - 1}, one per host, 0 on the coordinator's host"
        )
    timeout = settings.initialization_timeout_s
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(
            f"{SETTING}.initialization_timeout_s={timeout!r}: give the seconds to wait for the "
            "processes to join (> 0)"
        )


def wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Returns once something listens at ``address`` (``host:port``, process 0's coordinator);
    a ConnectionError naming the address after ``timeout_s`` seconds without. JAX itself would
    wait, then abort with a C++ stack trace."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # an address form JAX resolves itself (e.g. dns:///...): it will say
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"{SETTING}.coordinator_address={address}: no coordinator answered within "
                    f"{timeout_s:g} s ({SETTING}.initialization_timeout_s). Start process 0 "
                    "(the same command with process_id=0) on that host and check that this "
                    "host reaches that address and port (host name, firewall)"
                ) from None
            time.sleep(0.5)


def initialize(settings: ml_collections.ConfigDict) -> None:
    """``jax.distributed.initialize`` with the settings that are given (the rest detected);
    nothing when ``settings.initialize`` is off. Joining waits at most
    ``settings.initialization_timeout_s``: a process other than 0 first waits that long for
    the coordinator (a one-line error names its address); once it answers, JAX waits that
    long for every process, then aborts with its own message."""
    if not settings.initialize:
        return
    check_settings(settings)
    if settings.cpu_collectives:
        jax.config.update("jax_cpu_collectives_implementation", settings.cpu_collectives)
    given = {
        "coordinator_address": settings.coordinator_address or None,
        "num_processes": settings.num_processes if settings.num_processes > 0 else None,
        "process_id": settings.process_id if settings.process_id >= 0 else None,
    }
    if given["coordinator_address"] and (given["process_id"] or 0) > 0:
        wait_for_coordinator(settings.coordinator_address, settings.initialization_timeout_s)
    jax.distributed.initialize(
        **{key: value for key, value in given.items() if value is not None},
        initialization_timeout=max(1, round(settings.initialization_timeout_s)),
    )


def is_main_process() -> bool:
    """Whether this process writes files and metrics (process 0); Orbax checkpoints are
    written by all processes together."""
    return jax.process_index() == 0


def to_host(tree: Any) -> Any:
    """``tree`` as NumPy on every process. Arrays spread over several processes' devices are
    gathered (each process computed its own rows); other arrays are copied as they are."""

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return multihost_utils.process_allgather(x, tiled=True)
        return jax.device_get(x)

    return jax.tree.map(fetch, tree)
