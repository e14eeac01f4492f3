"""The train state of a stage and how it is made: fresh (``create_train_state``) or from a
checkpoint's items (``restored_train_state``), laid over the mesh."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from whispersign_jax.training import optim, sharding


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # () int32: steps done in this stage
    params: Any
    batch_stats: Any
    opt_state: Any

    def model_vars(self) -> dict[str, Any]:
        """The checkpoint's ``model`` item: what inference and the next stage read."""
        return {"params": self.params, "batch_stats": self.batch_stats}

    def validated_vars(self) -> dict[str, Any]:
        """What validation measures and the best checkpoint keeps: the weight average where
        the stage keeps one (``optim.average_weights``), else ``model_vars``."""
        average = optim.averaged_params(self.opt_state)
        params = self.params if average is None else average
        return {"params": params, "batch_stats": self.batch_stats}

    def train_vars(self) -> dict[str, Any]:
        """The checkpoint's ``train`` item: what an exact resume reads besides the model."""
        return {"step": self.step, "opt_state": self.opt_state}


def create_train_state(
    model_vars: dict[str, Any], optimizer: optax.GradientTransformation, mesh: Mesh
) -> TrainState:
    """Step 0 of a stage: ``model_vars`` (``{"params", "batch_stats"}``) and a fresh optimizer
    state, each array laid over ``mesh`` by ``sharding.param_sharding``."""
    model_vars = jax.device_put(model_vars, sharding.state_sharding(mesh, model_vars))
    opt_target = jax.eval_shape(optimizer.init, model_vars["params"])
    opt_state = jax.jit(optimizer.init, out_shardings=sharding.state_sharding(mesh, opt_target))(
        model_vars["params"]
    )
    step = jax.device_put(jnp.zeros((), jnp.int32), sharding.replicated(mesh))
    return TrainState(step, model_vars["params"], model_vars["batch_stats"], opt_state)


def restored_train_state(model_vars: dict[str, Any], train_vars: dict[str, Any]) -> TrainState:
    """A state from a checkpoint's ``model`` and ``train`` items (``TrainState.model_vars``,
    ``TrainState.train_vars``)."""
    return TrainState(
        train_vars["step"], model_vars["params"], model_vars["batch_stats"], train_vars["opt_state"]
    )


def train_target(optimizer: optax.GradientTransformation, abstract_params) -> dict[str, Any]:
    """Shapes and dtypes of a checkpoint's ``train`` item for this optimizer."""
    return {
        "step": jax.ShapeDtypeStruct((), jnp.int32),
        "opt_state": jax.eval_shape(optimizer.init, abstract_params),
    }


def abstract_sharded(tree, mesh: Mesh):
    """``tree``'s shapes and dtypes with the shardings of ``mesh``: a restore target that
    places each array where training needs it."""
    shardings = sharding.state_sharding(mesh, tree)
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings
    )
