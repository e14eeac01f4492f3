"""Multi-host runs: joining the processes (``jax.distributed``) and reading results back.

One process per host (a TPU VM, a GPU node, a Slurm task) runs the same command. With
``config.distributed.initialize`` each calls ``jax.distributed.initialize()`` before any other
JAX work: on Cloud TPU pods and Slurm / Open MPI clusters JAX finds the coordinator, the
process count and its own id by itself; elsewhere they come from the config
(docs/scaling.md).
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
from jax.experimental import multihost_utils


def initialize(settings: ml_collections.ConfigDict) -> None:
    """``jax.distributed.initialize`` with the settings that are given (the rest detected);
    nothing when ``settings.initialize`` is off."""
    if not settings.initialize:
        return
    if settings.cpu_collectives:
        jax.config.update("jax_cpu_collectives_implementation", settings.cpu_collectives)
    given = {
        "coordinator_address": settings.coordinator_address or None,
        "num_processes": settings.num_processes if settings.num_processes > 0 else None,
        "process_id": settings.process_id if settings.process_id >= 0 else None,
    }
    jax.distributed.initialize(**{key: value for key, value in given.items() if value is not None})


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
