"""Device mesh and shardings: batches split over ``data`` x ``fsdp``, parameters and
optimizer state split over ``fsdp`` (largest divisible axis), replicated over ``data``.

On one CPU device every sharding is trivial and the same code runs unchanged.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from whispersign_jax.data.input_pipeline import process_rows

BATCH_AXES = ("data", "fsdp")
MIN_SHARDED_SIZE = 2**14  # smaller arrays (biases, norms) stay replicated


def make_mesh(data: int = -1, fsdp: int = 1) -> Mesh:
    """A (data, fsdp) mesh over all devices; -1 takes the devices left over."""
    devices = jax.devices()
    if data == -1:
        if len(devices) % fsdp:
            raise ValueError(f"mesh.fsdp={fsdp} does not divide the {len(devices)} devices.")
        data = len(devices) // fsdp
    if data * fsdp != len(devices):
        raise ValueError(
            f"mesh.data={data} x mesh.fsdp={fsdp} must equal the {len(devices)} devices; "
            "set mesh.data=-1 to use all of them."
        )
    return Mesh(np.asarray(devices).reshape(data, fsdp), BATCH_AXES)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def fsdp_axis(shape: tuple[int, ...], fsdp: int) -> int | None:
    """The axis of a parameter or optimizer array split over ``fsdp`` devices: its largest
    axis that ``fsdp`` divides; None (replicated) for small arrays or when none divides."""
    if fsdp == 1 or int(np.prod(shape)) < MIN_SHARDED_SIZE:
        return None
    for axis in sorted(range(len(shape)), key=lambda a: -shape[a]):
        if shape[axis] % fsdp == 0:
            return axis
    return None


def param_sharding(mesh: Mesh, shape: tuple[int, ...]) -> NamedSharding:
    """Shards the array's ``fsdp_axis`` over the mesh's fsdp devices, or replicates it."""
    axis = fsdp_axis(shape, mesh.shape["fsdp"])
    if axis is None:
        return replicated(mesh)
    spec = [None] * len(shape)
    spec[axis] = "fsdp"
    return NamedSharding(mesh, P(*spec))


def state_sharding(mesh: Mesh, abstract_state):
    """Shardings for a pytree of arrays or ShapeDtypeStructs."""
    return jax.tree.map(lambda x: param_sharding(mesh, tuple(x.shape)), abstract_state)


def check_batch_size(batch_size: int, num_devices: int, setting: str = "the batch size") -> None:
    """Every batch splits evenly over the mesh's devices (and so over the processes): a clear
    error naming ``setting`` otherwise. The one divisibility check of the project."""
    if batch_size % num_devices:
        raise ValueError(
            f"{setting}={batch_size}: batch sizes must be multiples of the {num_devices} devices "
            f"of the mesh ({jax.process_count()} process(es)); set it to a multiple of "
            f"{num_devices}."
        )


def global_batch(batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """A host batch of the global shape -> global arrays sharded over the batch axes. Each
    process fills only its own rows of it (``input_pipeline.process_rows``) and contributes
    only those rows."""
    batch_size = next(iter(batch.values())).shape[0]
    check_batch_size(batch_size, sharding.mesh.size)
    rows = process_rows(batch_size, jax.process_index(), jax.process_count())
    return {
        name: jax.make_array_from_process_local_data(
            sharding, value[rows.start : rows.stop], (batch_size, *value.shape[1:])
        )
        for name, value in batch.items()
    }
