"""The formats table drives read_format and the --format flag; options are checked per format,
and the old flags (--source, --mp_data_fps, --voya_fps) still work."""

import numpy as np
import pytest

from whispersign_jax.data.contract import UNTIMED_FPS
from whispersign_jax.data.prepare import FORMATS, read_format
from whispersign_jax.data.prepare.cli import main, parse_args
from whispersign_jax.data.prepare.formats import OPTIONS


def test_the_format_flag_offers_every_format_of_the_table(capsys):
    assert set(FORMATS) == {"kaggle", "huggingface", "video", "pose", "mp_data"}
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert f"--format: <{'|'.join(FORMATS)}>" in help_text
    assert "--source: Alias for --format." in help_text
    assert parse_args(["--source", "pose", "--data_dir", "d"]).format == "pose"
    for dataset_format in FORMATS.values():
        assert dataset_format.description in help_text
        assert set(dataset_format.options) <= set(OPTIONS)


def test_fps_aliases_and_its_default():
    argv = ["--format", "mp_data", "--data_dir", "d"]
    assert parse_args(argv).fps is None  # not given: the reader's UNTIMED_FPS
    for flag in ("--fps", "--mp_data_fps", "--voya_fps"):
        assert parse_args([*argv, flag, "25"]).fps == 25.0


def test_help_gives_the_fps_default(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert f"default {UNTIMED_FPS:g}" in capsys.readouterr().out


def test_an_option_the_format_does_not_take_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"--label_csv does not apply to --format mp_data"):
        read_format("mp_data", tmp_path, label_csv="labels.csv")
    with pytest.raises(ValueError, match=r"--fps, --workers does not apply to --format pose"):
        read_format("pose", tmp_path, fps=25.0, workers=2)
    with pytest.raises(ValueError, match=r"Unknown dataset format 'mpdata'.*mp_data"):
        read_format("mpdata", tmp_path)
    out = str(tmp_path / "out")
    argv = ["--format", "kaggle", "--data_dir", str(tmp_path), "--output_dir", out]
    assert main([*argv, "--mp_data_fps", "25"]) == 2
    assert "--fps does not apply to --format kaggle" in capsys.readouterr().err


def test_old_flags_prepare_the_mp_data_fixture(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--source", "mp_data", "--data_dir", str(fixtures_dir / "mp_data_asl")]
    assert main([*argv, "--output_dir", str(out), "--mp_data_fps", "60"]) == 0
    assert "mp_data: 320 ok, 0 skipped" in capsys.readouterr().out
    # 20 frames at 60 FPS are kept 1:1 (at the default 30 FPS they become 39).
    assert np.load(out / "train" / "features" / "sample_00000.npy").shape == (20, 42, 7)
