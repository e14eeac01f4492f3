"""Shared test helpers: paths to the optional ../shared fixtures, tiny training configs."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent (a fresh clone has no ../shared)")
    return FIXTURES


def tiny_training_config(**stage_epochs: int):
    """configs/demo.py:quick shrunk further: a few steps per stage, small buckets."""
    from configs import demo

    config = demo.get_config("quick")
    config.model.d_model = 32
    config.model.num_heads = 2
    config.model.ffn_dim = 64
    config.model.encoder_layers = 1
    config.model.decoder_layers = 1
    config.data.buckets = (128, 192)
    config.data.synthetic.num_glosses = 4
    config.data.synthetic.train_signers = 3
    config.data.synthetic.val_signers = 1
    config.data.synthetic.test_signers = 1
    config.data.synthetic.samples_per_gloss_per_signer = 4
    config.checkpoint_every_steps = 2
    config.log_every_steps = 1
    for name in ("stage1", "stage2", "stage3"):
        config.stages[name].batch_size = 8
        config.stages[name].epochs = stage_epochs.get(name, 1)
    return config
