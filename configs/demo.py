"""A small WhisperSign on the built-in synthetic sign data, all three stages, offline.

    python -m whispersign_jax.main --config=configs/demo.py --workdir=runs/demo
    python -m whispersign_jax.evaluate --workdir=runs/demo --split=test

Expected: a few minutes on a 2-core CPU and >= 90% top-1 accuracy on the test split, whose
signers the model never saw (measured figures in docs/benchmarks.md). `configs/demo.py:quick`
is a sub-minute run for tests and quick checks (far from converged).
"""

from whispersign_jax.cli.config_files import sibling

default = sibling(__file__, "default")


def get_config(variant: str = ""):
    config = default.get_config()
    config.data.source = "synthetic"  # the built-in generator: no download, no preparation
    config.model.size = "custom"
    config.model.d_model = 128
    config.model.encoder_layers = 2
    config.model.decoder_layers = 2
    config.model.num_heads = 4
    config.model.ffn_dim = 512
    config.data.buckets = (64, 96, 128, 192)
    config.log_every_steps = 25
    config.checkpoint_every_steps = 200
    for name, epochs, lr in (("stage1", 6, 2e-3), ("stage2", 60, 1e-3), ("stage3", 6, 2e-4)):
        stage = config.stages[name]
        stage.epochs, stage.lr, stage.batch_size, stage.warmup_steps = epochs, lr, 32, 50
    config.stages.stage3.window_seconds = 1.5
    config.stages.stage3.overlap_seconds = 0.75
    if variant == "quick":
        config.data.synthetic.num_glosses = 6
        config.data.synthetic.samples_per_gloss_per_signer = 3
        config.model.d_model = 64
        config.model.ffn_dim = 128
        config.model.encoder_layers = config.model.decoder_layers = 1
        config.data.buckets = (160,)  # one shape: one compilation per stage
        config.log_every_steps = 2
        for name, epochs in (("stage1", 1), ("stage2", 2), ("stage3", 1)):
            stage = config.stages[name]
            stage.epochs, stage.batch_size, stage.warmup_steps = epochs, 16, 2
    elif variant:
        raise ValueError(f"configs/demo.py has variants '' and 'quick', not {variant!r}.")
    return config
