"""scripts/memory_table.py counts what training holds per device."""

import jax
import numpy as np
from conftest import load_script

from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.training import sharding


def test_state_memory_is_four_float32_copies_of_the_parameters_split_as_training_splits():
    table = load_script("memory_table")
    count, gib = table.state_gib_per_device("tiny", glosses=100, fsdp=1)
    model = WhisperSign(ModelConfig.preset("tiny", 100))
    params = jax.eval_shape(lambda: init_variables(model, jax.random.key(0)))["params"]
    assert count == sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    batch_norm = 2 * 384  # running mean and variance
    np.testing.assert_allclose(gib, (4 * count + batch_norm) * 4 / 2**30, rtol=1e-9)
    _, gib_8 = table.state_gib_per_device("tiny", glosses=100, fsdp=8)
    assert gib / 8 < gib_8 < gib / 7  # small arrays (biases, norms) stay whole on each device
    assert table.sharded_elements((384, 1536), 8) == 384 * 1536 // 8
    assert sharding.fsdp_axis((384, 1536), 8) == 1 and sharding.fsdp_axis((7, 384), 8) is None
