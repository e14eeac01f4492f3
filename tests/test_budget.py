import math

import pytest

from whispersign_jax.training import budget


def test_stage_steps_follow_epochs_up_to_the_cap():
    assert budget.stage_steps(epochs=30, max_steps=0, steps_per_epoch=16) == 480
    assert budget.stage_steps(epochs=30, max_steps=1000, steps_per_epoch=16) == 480
    assert budget.stage_steps(epochs=30, max_steps=1000, steps_per_epoch=150) == 1000
    with pytest.raises(ValueError, match="max_steps >= 0"):
        budget.stage_steps(epochs=3, max_steps=-1, steps_per_epoch=16)


def test_validation_interval_in_steps_or_epochs():
    assert budget.validation_interval(2, 0, steps_per_epoch=16) == 32
    assert budget.validation_interval(2, 100, steps_per_epoch=16) == 100
    with pytest.raises(ValueError, match=r"config\.eval_every_steps"):
        budget.validation_interval(1, -5, steps_per_epoch=16)


def test_early_stopping_counts_validations_without_a_relative_improvement():
    stopper = budget.EarlyStopping(patience=2, min_delta=0.1)
    assert not stopper.update(3.0, step=100)  # first: the best so far
    assert not stopper.update(2.0, step=200)  # 33% lower: new best
    assert not stopper.update(1.85, step=300)  # 7.5% lower: not enough, stale 1
    assert stopper.update(1.9, step=400)  # stale 2 = patience
    assert (stopper.best_loss, stopper.best_step, stopper.stale) == (2.0, 200, 2)
    assert "best 2.0000 at step 200" in stopper.reason()


def test_early_stopping_off_never_stops_and_state_round_trips():
    never = budget.EarlyStopping(patience=0)
    assert not any(never.update(loss, step) for step, loss in enumerate([1.0, 2.0, 3.0, 4.0]))
    fresh = budget.EarlyStopping(patience=3).state()
    assert fresh == {"best_loss": None, "best_step": 0, "stale": 0}  # JSON has no inf
    stopper = budget.EarlyStopping(patience=3)
    stopper.update(1.5, step=10)
    stopper.update(1.6, step=20)
    resumed = budget.EarlyStopping(patience=3)
    resumed.restore(stopper.state())
    assert resumed == stopper
    resumed.restore(fresh)
    assert math.isinf(resumed.best_loss) and resumed.stale == 0


def test_early_stopping_settings_are_checked():
    with pytest.raises(ValueError, match=r"config\.early_stopping"):
        budget.EarlyStopping(patience=-1)
