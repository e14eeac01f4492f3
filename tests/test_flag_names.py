"""One vocabulary of flags (``whispersign_jax/cli/flag_names.py``): one flag library (absl) and one
meaning per flag name in every command, the old names still work for one release with a
warning, and ``--help`` lists only what a command accepts and answers without importing JAX."""

import subprocess
import sys

import pytest
from test_entry_points import ROOT, SCRIPTS, script_command

from whispersign_jax.cli.flag_names import RENAMED
from whispersign_jax.data.prepare.cli import parse_args
from whispersign_jax.extraction import __main__ as extract

PREPARE = ["--format", "mp_data", "--data_dir", "MP_Data"]


def test_prepare_takes_the_old_names_with_a_warning(capsys):
    args = parse_args([*PREPARE, "--keypoints", "hands_pose", "--model_path", "h.task"])
    assert (args.joint_set, args.hand_model) == ("hands_pose", "h.task")
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [
        "warning: --keypoints is deprecated, use --joint_set (the old name goes in 0.3.0)",
        "warning: --model_path is deprecated, use --hand_model (the old name goes in 0.3.0)",
    ]


def test_prepare_new_names_are_silent_and_old_ones_keep_their_checks(capsys):
    args = parse_args([*PREPARE, "--joint_set", "hands_pose_lips", "--face_model", "f"])
    assert (args.joint_set, args.face_model, args.pose_model) == ("hands_pose_lips", "f", None)
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit) as exit_:
        parse_args([*PREPARE, "--keypoints", "fingers"])  # not a joint set
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: flag --joint_set=fingers: value should be one of <hands|hands_pose|hands_pose_lips>"
    )


def test_extract_takes_the_old_joint_set_flag_with_a_warning(tmp_path, capsys):
    video = tmp_path / "absent.mp4"
    status = extract.main(["--video", str(video), "--out", str(tmp_path / "x.npy"),
                           "--keypoints", "hands"])  # fmt: skip
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        "warning: --keypoints is deprecated, use --joint_set (the old name goes in 0.3.0)",
        f"error: {video}: no such video file; check the path",
    ]


def test_absl_commands_take_the_old_names_with_a_warning(tmp_path):
    absent = tmp_path / "absent"
    command, _ = script_command("whispersign-export", f"--workdir={absent}", "--format=onnx",
                                f"--out={tmp_path / 'x'}", "--dtype=int8")  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "warning: --dtype is deprecated, use --weights_dtype (the old name goes in 0.3.0)",
        f"error: {absent} does not exist: pass a training workdir, a checkpoint, a model folder "
        "or the Hugging Face hub id of one.",
    ]


def help_without_jax(name: str) -> tuple[str, bool]:
    """(``--help`` of a console script, whether it imported JAX), in a fresh interpreter."""
    module, function = SCRIPTS[name].split(":")
    code = (
        f"import sys\nfrom {module} import {function}\nsys.argv = [{name!r}, '--help']\n"
        f"try:\n    {function}()\nexcept SystemExit as exit_:\n    code = exit_.code\n"
        "print('JAX:', 'jax' in sys.modules, file=sys.stderr)\nsys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr, "JAX: True" in result.stderr


def flag_help(usage: str, flag: str) -> str:
    """The help line(s) of ``--flag`` (absl: ``--flag: text``; argparse: ``--flag X  text``)."""
    lines = usage.splitlines()
    found = [i for i, line in enumerate(lines) if line.strip().startswith(f"--{flag}")]
    return " ".join(" ".join(lines[i : i + 2]) for i in found)


MEANINGS = {"keypoints": ".npy", "dtype": "ompute dtype", "joint_set": "hands_pose_lips"}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_is_jax_free_and_each_flag_name_means_one_thing(name):
    usage, imported_jax = help_without_jax(name)
    assert not imported_jax, f"{name} --help imported JAX (slow: import it inside main)"
    for old, new in RENAMED.items():
        if new in ("joint_set", "weights_dtype"):
            continue  # the old names keypoints and dtype are current flags of other commands
        assert f"--{old}" not in usage or "Deprecated" in flag_help(usage, old), (name, old)
    for flag, meaning in MEANINGS.items():
        text = flag_help(usage, flag)  # "" where the command only names it in its text
        if text and "Deprecated: use --" not in text:
            assert meaning in text, (name, flag, text)
    if name == "whispersign-run-export":  # the runtime refuses the beam decoders
        assert "attention_rescoring" in usage and "joint_beam" not in usage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--decoder=joint_beam"], "error: flag --decoder=joint_beam: value should be one of "
         "<ctc_greedy|ctc_prefix_beam|attention_rescoring> (--help lists the flags)"),
        (["--threads=x"], "error: flag --threads=x: invalid literal for int() with base 10: 'x' "
         "(--help lists the flags)"),
        (["stray"], "error: Unexpected arguments: ['stray'] (--help lists the flags)"),
    ],
)  # fmt: skip
def test_a_wrong_flag_ends_an_absl_command_in_one_line_with_status_2(args, message, tmp_path):
    command, _ = script_command("whispersign-run-export", "--model=m", "--keypoints=k.npy", *args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (2, [message])
