"""A moving average of the weights (``config.stages.<name>.ema_decay``, ``optim.average_weights``):
its arithmetic, frozen parameters, and a stage whose validation and best checkpoint use it
while the latest checkpoint keeps the raw weights and the average for an exact resume."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import tiny_training_config

from whispersign_jax.runs import workdir as workdir_lib
from whispersign_jax.training import optim


def test_the_average_follows_the_parameters_with_a_warming_up_decay():
    params = {"w": jnp.array([1.0, 2.0])}
    transform = optim.average_weights(0.5)
    state = transform.init(params)
    expected = np.array([1.0, 2.0])
    for n, step in enumerate([np.array([1.0, 0.0]), np.array([0.0, -4.0]), np.array([2.0, 2.0])]):
        updates = {"w": jnp.asarray(step)}
        out, state = transform.update(updates, state, params)
        np.testing.assert_array_equal(out["w"], updates["w"])  # updates pass through
        params = optax.apply_updates(params, updates)
        rate = min(0.5, (1 + n) / (10 + n))
        expected = rate * expected + (1 - rate) * np.asarray(params["w"])
        np.testing.assert_allclose(state.params["w"], expected, rtol=1e-6)
    assert int(state.count) == 3
    with pytest.raises(ValueError, match=r"ema_decay must lie in \(0, 1\), got 1.0"):
        optim.average_weights(1.0)


def test_frozen_parameters_keep_their_average_and_without_ema_there_is_none():
    params = {"frontend": {"kernel": jnp.ones(3)}, "encoder": {"kernel": jnp.ones(3)}}
    labels = optim.trainable_labels(params, ["frontend/.*"])
    schedule = optax.constant_schedule(0.1)
    averaged = optim.make_optimizer(labels, schedule, 0.0, 1.0, ema_decay=0.9)
    state = averaged.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    for _ in range(5):
        updates, state = averaged.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    average = optim.averaged_params(state)
    np.testing.assert_array_equal(average["encoder"]["kernel"], np.ones(3))  # frozen
    assert np.all(average["frontend"]["kernel"] < 1.0)  # it trained: weights went down
    assert np.all(average["frontend"]["kernel"] > params["frontend"]["kernel"])  # and lags
    plain = optim.make_optimizer(labels, schedule, 0.0, 1.0)
    assert optim.averaged_params(plain.init(params)) is None


def test_a_workdir_trained_before_the_setting_resumes_as_without_it():
    saved = {"stages": {"stage1": {"lr": 1e-3}}, "seed": 0}
    current = {"stages": {"stage1": {"lr": 1e-3, "ema_decay": 0.0}}, "seed": 0}
    assert workdir_lib.config_differences(saved, current) == []
    current["stages"]["stage1"]["ema_decay"] = 0.99
    assert workdir_lib.config_differences(saved, current) == [
        "stages.stage1.ema_decay: 0.0 -> 0.99"
    ]


def test_validation_and_the_best_checkpoint_use_the_average(tmp_path):
    from whispersign_jax.runs import trained
    from whispersign_jax.runs.checkpointing import StageCheckpoints
    from whispersign_jax.training import state as state_lib
    from whispersign_jax.training import train

    config = tiny_training_config(stage1=2)
    config.run_stages = ("stage1",)
    config.stages.stage1.ema_decay = 0.9
    workdir = tmp_path / "run"
    train.train_and_evaluate(config, str(workdir))
    best = trained.load(str(workdir))
    checkpoints = StageCheckpoints(workdir / "stage1")
    try:
        assert best.step in checkpoints.latest.all_steps()  # both saved at the best's step

        abstract = jax.eval_shape(lambda: best.variables["params"])
        optimizer = optim.stage_optimizer(abstract, config.stages.stage1, 10, 1.0).optimizer
        train_target = state_lib.train_target(optimizer, abstract)
        latest = StageCheckpoints.restore(checkpoints.latest, best.variables, train_target)
    finally:
        checkpoints.close()
    raw, train_vars, record = latest
    assert record["step"] == best.step
    average = optim.averaged_params(train_vars["opt_state"])
    assert average is not None
    for kept, averaged in zip(
        jax.tree.leaves(best.variables["params"]), jax.tree.leaves(average), strict=True
    ):
        np.testing.assert_array_equal(kept, averaged)  # best = the average the step validated
    trained_leaves = jax.tree.leaves(raw["params"]["frontend"])
    best_leaves = jax.tree.leaves(best.variables["params"]["frontend"])
    assert any(not np.array_equal(a, b) for a, b in zip(trained_leaves, best_leaves, strict=True))
