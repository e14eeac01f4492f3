"""Trains WhisperSign: ``python -m whispersign_jax.main --config=configs/demo.py [--workdir=DIR]``.

``--config`` is a config file, or a shipped config by name from any folder
(``whispersign-train --config=demo.py:quick``).

Any config field can be overridden: ``--config.stages.stage2.lr=1e-4``. Rerunning the same
command resumes where it stopped; finished stages are skipped. Without ``--workdir`` the run
goes to ``runs/<config name>`` (``runs/demo``, ``runs/demo-quick`` for ``demo.py:quick``).
"""

import sys
import time
from pathlib import Path

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from whispersign_jax import cli, storage
from whispersign_jax.cli import compile_cache, config_files
from whispersign_jax.errors import one_line

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "workdir", None, "Folder for checkpoints and TensorBoard events (default: runs/<config>)."
)
config_flags.DEFINE_config_file(
    "config",
    None,
    "Training configuration: a config file (configs/demo.py, with :variant if it has any), or "
    f"a shipped config by name: {', '.join(config_files.shipped_names())} (demo.py:quick: "
    "a one-minute try-out).",
    lock_config=True,
)
flags.mark_flags_as_required(["config"])

RUNS_DIR = "runs"


def default_workdir(config_argument: str) -> str:
    """``configs/demo.py:quick`` -> ``runs/demo-quick``: one folder per config and variant."""
    path, _, variant = config_argument.partition(":")
    name = Path(path).stem + (f"-{variant}" if variant else "")
    return str(Path(RUNS_DIR) / name)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from whispersign_jax.data.sources import DataSettingsError, check_data_settings

    try:
        check_data_settings(FLAGS.config.data)  # at once, before JAX starts
    except DataSettingsError as error:
        raise SystemExit(f"error: {error}") from None  # one line, exit status 1
    compile_cache.enable(FLAGS.config.compile_cache_dir)
    import jax

    from whispersign_jax.training import distributed, train

    distributed.initialize(FLAGS.config.distributed)

    workdir = FLAGS.workdir or default_workdir(config_flags.get_config_filename(FLAGS["config"]))
    logging.info("workdir: %s", workdir)
    if not FLAGS.workdir:
        print(f"No --workdir given: writing to {workdir}", flush=True)
    logging.info(
        "JAX process %d / %d, local devices: %s",
        jax.process_index(),
        jax.process_count(),
        jax.local_devices(),
    )
    from whispersign_jax.runs.checkpointing import CorruptCheckpointError
    from whispersign_jax.runs.workdir import ConfigMismatchError, WorkdirInUseError
    from whispersign_jax.training.stop_signals import TrainingStoppedError

    start = time.monotonic()
    try:
        results = train.train_and_evaluate(FLAGS.config, workdir)
    except TrainingStoppedError as stopped:  # a clean stop: exit 0
        logging.warning("%s", stopped)
        print(stopped, flush=True)
        return
    except (ConfigMismatchError, WorkdirInUseError, CorruptCheckpointError) as error:
        raise SystemExit(f"error: {error}") from None  # one line, exit status 1
    if distributed.is_main_process():
        elapsed = time.monotonic() - start
        test = test_metrics(FLAGS.config, workdir)
        print(closing_summary(FLAGS.config, workdir, results, elapsed, test), flush=True)


def test_metrics(config: ml_collections.ConfigDict, workdir: str) -> dict | str:
    """The last trained stage's best model on the test split with the default decoder (its
    report goes to ``<workdir>/eval/test-<decoder>/``, which the model card reads), or why it
    was not evaluated."""
    import jax

    if not config.evaluate_test:
        return "not evaluated (config.evaluate_test=False); the first command below scores it"
    if jax.process_count() > 1:
        return "not evaluated in a multi-process run; the first command below scores it"
    from whispersign_jax.training.evaluator import evaluate_workdir

    logging.info("evaluating %s's best model on the test split", config.run_stages[-1])
    try:
        return evaluate_workdir(workdir, "test", config.run_stages[-1])
    except (ValueError, FileNotFoundError) as error:
        return f"not evaluated ({one_line(error)})"


def closing_summary(
    config: ml_collections.ConfigDict,
    workdir: str,
    results: dict[str, dict],
    seconds: float,
    test: dict | str = "not evaluated",
) -> str:
    """What a person needs once training ends: each stage's best validation, the test metrics,
    where the model is, and the commands that use it (on the last stage trained)."""
    from whispersign_jax.training import metric_writers

    last = config.run_stages[-1]
    stage_flag = "" if last == config.stage_order[-1] else f" --stage={last}"
    lines = [
        "",
        f"Training finished in {metric_writers.format_duration(seconds)}: {workdir}",
        "Best validation of each stage (CTC greedy decoding):",
    ]
    for name, metrics in results.items():
        if not metrics:
            lines.append(f"  {name}: no validation result")
            continue
        lines.append(
            f"  {name}: accuracy {metrics['accuracy']:.3f}, top-5 {metrics['top5_accuracy']:.3f}"
            f", WER {metrics['wer']:.3f} ({metrics['samples']} clips)"
        )
    model_dir = Path("models") / Path(workdir).name
    lines += [
        f"Model: {storage.path(workdir) / last / 'checkpoints' / 'best'} ({last}'s best validation "
        f"{config.best_metric})",
        test_line(test),
        "Next:",
        f"  whispersign-evaluate --workdir={workdir}{stage_flag} --split=test",
        f"  whispersign-recognize --workdir={workdir}{stage_flag} --keypoints=clip.npy"
        "  # or --video=clip.mp4",
        f"  whispersign-export --workdir={workdir}{stage_flag} --format=model --out={model_dir}",
        f"  tensorboard --logdir={workdir}",
    ]
    return "\n".join(lines)


def test_line(test: dict | str) -> str:
    if isinstance(test, str):
        return f"Test split: {test}"
    return (
        f"Test split ({test['decoder']} decoding): accuracy {test['accuracy']:.3f}, top-5 "
        f"{test['top5_accuracy']:.3f}, WER {test['wer']:.3f} ({test['samples']} clips); "
        f"report: {test.get('report', '(not written)')}"
    )


def resolve_config_argument(argv: list[str]) -> list[str]:
    """``argv`` with a ``--config`` that names a shipped config replaced by its file path."""
    resolved = []
    for index, arg in enumerate(argv):
        if index and argv[index - 1] in ("--config", "-config"):
            arg = config_files.resolve(arg)
        for prefix in ("--config=", "-config="):
            if arg.startswith(prefix):
                arg = prefix + config_files.resolve(arg[len(prefix) :])
        resolved.append(arg)
    return resolved


def run() -> None:
    """The ``whispersign-train`` console script."""
    sys.argv = resolve_config_argument(sys.argv)
    cli.run_absl(main)


if __name__ == "__main__":
    run()
