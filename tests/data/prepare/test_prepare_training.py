"""End to end on real signing: prepare the MP_Data fixture with the CLI, then train on it."""

import json

from conftest import tiny_training_config

from whispersign_jax.data.prepare.cli import main as prepare

EPOCHS = 20
# Measured on the fixture with this config (32 test sequences of 16 glosses, chance 1/16):
# test accuracy 0.63 after 15 epochs, 0.75 after 20, 0.88 after 30.
MIN_TEST_ACCURACY = 0.4


def mp_data_config(data_dir):
    """tiny_training_config on the processed fixture: one CTC-only stage that trains every
    parameter (the fastest way to a working classifier), 20 frames at 30 FPS fit bucket 64."""
    config = tiny_training_config(stage1=EPOCHS)
    config.data.source = "processed"
    config.data.dir = str(data_dir)
    config.model.d_model, config.model.ffn_dim = 64, 128
    config.data.buckets = (64,)
    config.run_stages = ("stage1",)
    config.eval_every_epochs = 10
    config.checkpoint_every_steps = 1000
    config.log_every_steps = 50
    stage = config.stages.stage1
    stage.trainable = (".*",)
    stage.batch_size, stage.lr, stage.warmup_steps = 32, 5e-3, 5
    return config


def test_prepared_mp_data_trains_far_above_chance(fixtures_dir, tmp_path, capsys):
    from whispersign_jax.training import evaluator
    from whispersign_jax.training.train import train_and_evaluate

    data_dir = tmp_path / "processed"
    argv = ["--source", "mp_data", "--data_dir", str(fixtures_dir / "mp_data_asl")]
    assert prepare([*argv, "--output_dir", str(data_dir)]) == 0
    assert "wrote train 256, val 32, test 32 samples of 16 glosses" in capsys.readouterr().out
    label_map = json.loads((data_dir / "label_map.json").read_text())
    assert label_map["<blank>"] == 0 and len(label_map) == 17

    train_and_evaluate(mp_data_config(data_dir), str(tmp_path / "run"))
    metrics = evaluator.evaluate_workdir(str(tmp_path / "run"), split="test")
    assert metrics["samples"] == 32
    print("test metrics:", metrics)
    assert metrics["accuracy"] >= MIN_TEST_ACCURACY, metrics
