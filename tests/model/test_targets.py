"""Teacher-forced decoder sequences: <sos> in front of the inputs, <eos> after the targets."""

import jax.numpy as jnp
import numpy as np

from whispersign_jax.model.targets import teacher_forcing


def test_teacher_forcing_inputs_targets_and_mask():
    labels = jnp.array([[3, 4, 5], [7, 0, 0]])
    inputs, targets, mask = teacher_forcing(labels, labels > 0, num_glosses=10)
    # <sos> = 11, <eos> = 12, <pad> = 13
    np.testing.assert_array_equal(inputs, [[11, 3, 4, 5], [11, 7, 13, 13]])
    np.testing.assert_array_equal(targets, [[3, 4, 5, 12], [7, 12, 13, 13]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1], [1, 1, 0, 0]])
