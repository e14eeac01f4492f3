"""The configs carry the guide's stage table and accept command-line overrides."""

import pytest
from absl import flags
from ml_collections import config_flags

from configs import default, demo, stage1, stage2, stage3
from whispersign_jax.model.config import cpu_compute_dtype, cpu_flags


def test_default_config_is_the_guides_stage_table():
    stages = default.get_config().stages
    table = {
        name: (s.epochs, s.lr, s.batch_size, s.weight_decay, s.warmup_steps, s.alpha)
        for name, s in stages.items()
    }
    assert table == {
        "stage1": (30, 1e-3, 32, 1e-4, 500, 1.0),
        "stage2": (100, 5e-5, 16, 1e-4, 500, 0.3),
        "stage3": (30, 1e-5, 16, 1e-5, 500, 0.3),
    }
    assert stages.stage1.trainable == ("frontend/.*", "ctc_head/.*")
    assert stages.stage2.trainable == stages.stage3.trainable == (".*",)
    assert (stages.stage3.window_seconds, stages.stage3.overlap_seconds) == (3.0, 1.5)
    config = default.get_config()
    assert (config.clip_norm, config.model.size) == (1.0, "base")


def test_single_stage_configs_run_one_stage():
    assert [m.get_config().run_stages for m in (stage1, stage2, stage3)] == [
        ("stage1",),
        ("stage2",),
        ("stage3",),
    ]
    assert default.get_config().run_stages == ("stage1", "stage2", "stage3")


def test_demo_variants():
    assert demo.get_config().model.size == "custom"
    assert demo.get_config("quick").stages.stage2.epochs < demo.get_config().stages.stage2.epochs
    with pytest.raises(ValueError, match="quick"):
        demo.get_config("fast")


def test_any_field_can_be_overridden_on_the_command_line(monkeypatch):
    argv = [
        "main",
        "--config=configs/demo.py:quick",
        "--config.stages.stage2.lr=0.0001",
        "--config.model.dtype=bfloat16",
    ]
    monkeypatch.setattr("sys.argv", argv)  # config_flags reads the overrides from sys.argv
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "", flag_values=flag_values)
    flag_values(argv)
    assert flag_values.config.stages.stage2.lr == 1e-4
    assert flag_values.config.model.dtype == "bfloat16"


def test_small_data_config_is_the_guides_small_dataset_setting():
    from configs import small_data

    config = small_data.get_config()
    model = config.model
    assert (model.size, model.d_model, model.num_heads, model.ffn_dim) == ("custom", 256, 4, 1024)
    assert (model.encoder_layers, model.decoder_layers, model.dropout) == (4, 4, 0.2)
    assert config.run_stages == ("stage1", "stage2", "stage3")
    default_warmup = default.get_config().stages.stage2.warmup_steps
    assert all(s.warmup_steps < default_warmup for s in config.stages.values())
    assert train_model_config(config).d_model == 256
    assert config.model.dtype == cpu_compute_dtype()  # bfloat16 where the CPU has its matmuls


def test_the_compute_dtype_follows_the_cpus_bfloat16_instructions(tmp_path):
    assert cpu_compute_dtype({"avx2", "avx512f", "avx512_bf16"}) == "bfloat16"
    assert cpu_compute_dtype({"avx2", "amx_bf16", "amx_tile"}) == "bfloat16"
    assert cpu_compute_dtype({"avx2", "avx512f", "avx512_fp16"}) == "float32"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\nflags : x\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == set()  # not Linux: float32


def train_model_config(config):
    from whispersign_jax.training.train import build_model_config

    return build_model_config(config, num_glosses=16)


def test_model_config_is_built_from_config_model_fields():
    from whispersign_jax.model import ModelConfig

    config = default.get_config()
    config.model.ffn_dim = 1000  # a size field overrides the preset's value
    model = train_model_config(config)
    assert (model.d_model, model.encoder_layers, model.ffn_dim) == (512, 6, 1000)
    assert (model.dropout, model.patch_size, model.dtype) == (0.1, 4, "float32")
    with pytest.raises(ValueError, match=r"Unknown model config fields \['dropout_rate'\]"):
        ModelConfig.from_settings({**config.model, "dropout_rate": 0.2}, num_glosses=3)
    with pytest.raises(ValueError, match="custom' needs"):
        ModelConfig.from_settings({**config.model, "size": "custom", "d_model": 0}, 3)


def test_every_stage_has_the_same_fields_and_an_explicit_order():
    config = default.get_config()
    assert config.stage_order == ("stage1", "stage2", "stage3")
    fields = {name: set(stage) for name, stage in config.stages.items()}
    assert len({frozenset(f) for f in fields.values()}) == 1
    assert all(stage.update_batch_norm for stage in config.stages.values())


def test_main_without_workdir_defaults_to_runs_config_name():
    from whispersign_jax.main import default_workdir

    assert default_workdir("configs/stage2.py") == "runs/stage2"
    assert default_workdir("configs/demo.py:quick") == "runs/demo-quick"


def test_config_arguments_resolve_to_files(tmp_path, monkeypatch):
    from whispersign_jax.cli import config_files

    shipped = config_files.configs_dir()
    assert config_files.shipped_names() == [
        "default", "demo", "small_data", "stage1", "stage2", "stage3"
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)  # not the repository: configs/ is not here
    assert config_files.resolve("demo.py:quick") == f"{shipped / 'demo.py'}:quick"
    assert config_files.resolve("stage2") == str(shipped / "stage2.py")
    assert config_files.resolve("configs/demo.py") == str(shipped / "demo.py")
    (tmp_path / "demo.py").write_text("")  # a file of that name here wins
    assert config_files.resolve("demo.py:quick") == "demo.py:quick"
    for unknown in ("nope.py", "other/demo.py", "/abs/missing.py"):
        assert config_files.resolve(unknown) == unknown  # config_flags names the missing file


def test_augment_config_holds_the_augmentation_defaults_under_their_field_names():
    """config.data.augment is built from AugmentConfig, and training builds AugmentConfig back
    from it (``AugmentConfig(**config.data.augment)``): same fields, same values."""
    import dataclasses

    from whispersign_jax.data.augment import AugmentConfig

    augment = default.get_config().data.augment
    assert list(augment) == sorted(f.name for f in dataclasses.fields(AugmentConfig))
    assert AugmentConfig(**augment) == AugmentConfig()
    assert (augment.speed_range, augment.mirror_prob, augment.time_mask_frames) == (
        (0.8, 1.25),
        0.5,
        6,
    )
