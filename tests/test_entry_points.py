"""Every console script of pyproject's ``[project.scripts]`` starts and explains its flags."""

import importlib.metadata
import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from whispersign_jax import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
FLAGS_IN_HELP = {  # flags that each script's --help must name
    "whispersign-train": ["--workdir", "--config"],
    "whispersign-evaluate": ["--workdir", "--split", "--decoder", "--beam_size", "--ctc_weight"],
    "whispersign-recognize": ["--workdir", "--keypoints", "--video", "--decoder", "--window_s"],
    "whispersign-extract": ["--video", "--out", "--backend"],
    "whispersign-prepare": ["--source", "--data_dir", "--output_dir"],
    "whispersign-export": ["--workdir", "--format", "--out", "--weights_dtype", "--window_s"],
    "whispersign-run-export": ["--model", "--keypoints", "--decoder", "--stream", "--threads"],
    "whispersign-visualize": ["--keypoints", "--out", "--workdir", "--video", "--fps", "--curves"],
    "whispersign-serve": ["--workdir", "--port", "--export_dir", "--hand_model", "--assets"],
}


def script_command(name: str, *args: str) -> tuple[list[str], str]:
    """The installed script where its entry point matches pyproject, else ``module:function``
    called the same way (``pip install -e .`` installs the scripts)."""
    value = SCRIPTS[name]
    installed = importlib.metadata.entry_points(group="console_scripts").select(name=name)
    executable = Path(sysconfig.get_path("scripts")) / name
    if any(entry.value == value for entry in installed) and executable.is_file():
        return [str(executable), *args], "installed"
    module, function = value.split(":")
    code = (
        f"import sys; from {module} import {function}; "
        f"sys.argv = [{name!r}, *{list(args)!r}]; sys.exit({function}())"
    )
    return [sys.executable, "-c", code], "module"


def help_command(name: str) -> tuple[list[str], str]:
    return script_command(name, "--help")


def test_every_script_has_expected_flags():
    assert set(SCRIPTS) == set(FLAGS_IN_HELP), "add the new script's flags to FLAGS_IN_HELP"


def cases():
    """One case per script, named after how it runs (``installed`` or ``module``)."""
    for name in sorted(SCRIPTS):
        command, how = help_command(name)
        yield pytest.param(name, command, id=f"{name}-{how}")


@pytest.mark.parametrize(("name", "command"), cases())
def test_help_exits_0_and_names_the_flags(name, command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    usage = result.stdout + result.stderr
    assert result.returncode == 0, usage[-2000:]
    missing = [flag for flag in FLAGS_IN_HELP[name] if flag not in usage]
    assert not missing, (missing, usage[-2000:])


def test_help_is_recognised_before_a_double_dash_only():
    assert cli.asks_for_help(["x", "--workdir=runs/a", "--help"])
    assert cli.asks_for_help(["x", "-?"]) and cli.asks_for_help(["x", "--helpfull"])
    assert not cli.asks_for_help(["x", "--", "--help"])
    assert not cli.asks_for_help(["x", "--workdir=--help", "help"])


# demo.py:quick cut to one epoch of stage 2 on 3 glosses: seconds.
SHORT_RUN = ("--config.run_stages=('stage2',)", "--config.stages.stage2.epochs=1")
SHORT_RUN += ("--config.data.synthetic.num_glosses=3",)


@pytest.mark.parametrize("config", ["demo.py:quick", str(ROOT / "configs" / "demo.py:quick")])
def test_train_script_trains_a_shipped_config_from_any_folder(config, tmp_path):
    """By name or by absolute path, from a folder that is not the repository: the shipped
    configs load (and import each other) wherever the command runs."""
    command, _ = script_command("whispersign-train", f"--config={config}", *SHORT_RUN,
                                f"--workdir={tmp_path / 'run'}")  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert list(results) == ["stage2"] and results["stage2"]["samples"] > 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["synthetic"]["num_glosses"] == 3
    assert_log_reads_well(result.stderr, result.stdout, tmp_path / "run")


def assert_log_reads_well(log: str, summary: str, workdir: Path) -> None:
    """A training log a person reads (stderr), and the closing summary (stdout)."""
    for noise in ("oneDNN", "Unable to initialize backend", "steps_per_sec", "uptime", "images"):
        assert noise not in log, noise  # TensorFlow, the TPU probe, CLU's duplicate lines
    assert not re.search(r"\] \[\d+\] ", log)  # no "[step] tag=value" writer lines
    validations = [line for line in log.splitlines() if "stage2 step" in line and ": val " in line]
    assert validations and log.count("wer=") == len(validations)  # each value once
    assert all(line.count("accuracy=") == 2 for line in validations)  # and top5_accuracy
    assert re.search(r"stage2 step 2/\d+ \(\d+%, ETA (\d+ min )?\d+ s\): loss/total=", log)
    compiling = r"compiling the stage2 train step \(first run of these shapes: batch 16 x \d+ "
    assert re.search(compiling + r"frames\)\.\.\.\n.*stage2 train step compiled in \d+\.\d s", log)
    assert "compiling the stage2 validation decoder" in log
    assert "model.d_model=64," in log
    assert "Training finished in " in summary and f"{workdir / 'stage2' / 'checkpoints'}" in summary
    assert f"whispersign-evaluate --workdir={workdir} --stage=stage2 --split=test" in summary
    assert "stage2: accuracy " in summary
    report = workdir / "eval" / "test-attention_rescoring"
    assert re.search(
        r"Test split \(attention_rescoring decoding\): accuracy \d\.\d{3}, top-5 "
        rf"\d\.\d{{3}}, WER \d\.\d{{3}} \(\d+ clips\); report: {report}",
        summary,
    )
    assert (report / "metrics.json").is_file()  # what the model card reports


def test_train_help_lists_the_shipped_configs():
    result = subprocess.run(help_command("whispersign-train")[0], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)  # fmt: skip
    names = sorted(p.stem for p in (ROOT / "configs").glob("*.py") if p.stem != "__init__")
    assert all(name in result.stdout + result.stderr for name in names), names


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ("default.py", "config.data names no dataset"),
        ("stage1.py", "config.data names no dataset"),
        ("stage2.py", "config.data names no dataset"),
        ("stage3.py", "config.data names no dataset"),
        ("small_data.py", "config.data.source='processed' needs --config.data.dir=DIR"),
    ],
)
def test_configs_without_a_dataset_stop_at_once_in_one_line(config, names, tmp_path):
    """The card's command names no dataset: one line saying what to pass, nothing written."""
    command, _ = script_command("whispersign-train", f"--config={ROOT / 'configs' / config}",
                                f"--workdir={tmp_path / 'run'}")  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {names}")
    assert not (tmp_path / "run").exists()


def test_commands_drop_library_info_chatter_but_keep_warnings():
    """``cli.QuietLibraries``, which every absl command installs below ``--verbosity=1``."""
    import logging

    def record(path: str, level: int) -> logging.LogRecord:
        return logging.LogRecord("absl", level, path, 1, "message", None, None)

    orbax = "/site-packages/orbax/checkpoint/_src/checkpoint.py"
    quiet = cli.QuietLibraries()
    assert not quiet.filter(record(orbax, logging.INFO))
    assert not quiet.filter(record("/site-packages/jax/_src/xla_bridge.py", logging.INFO))
    assert quiet.filter(record(orbax, logging.WARNING))
    assert quiet.filter(record("/repo/whispersign_jax/training/loop.py", logging.INFO))
