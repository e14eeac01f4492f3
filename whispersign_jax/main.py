"""Trains WhisperSign: ``python -m whispersign_jax.main --config=configs/demo.py [--workdir=DIR]``.

``--config`` is a config file, or a shipped config by name from any folder
(``whispersign-train --config=demo.py:quick``).

Any config field can be overridden: ``--config.stages.stage2.lr=1e-4``. Rerunning the same
command resumes where it stopped; finished stages are skipped. Without ``--workdir`` the run
goes to ``runs/<config name>`` (``runs/demo``, ``runs/demo-quick`` for ``demo.py:quick``).
"""

import logging as std_logging
import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from whispersign_jax import cli, compile_cache, config_files

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


class QuietLibraries(std_logging.Filter):
    """Drops the INFO chatter of checkpointing internals; warnings and errors still show."""

    NOISY = ("/orbax/", "/tensorstore/")

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or not any(
            part in record.pathname for part in self.NOISY
        )


def default_workdir(config_argument: str) -> str:
    """``configs/demo.py:quick`` -> ``runs/demo-quick``: one folder per config and variant."""
    path, _, variant = config_argument.partition(":")
    name = Path(path).stem + (f"-{variant}" if variant else "")
    return str(Path(RUNS_DIR) / name)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.get_absl_handler().addFilter(QuietLibraries())
    from whispersign_jax.data.sources import DataSettingsError, check_data_settings

    try:
        check_data_settings(FLAGS.config.data)  # at once, before JAX starts
    except DataSettingsError as error:
        raise SystemExit(f"error: {error}") from None  # one line, exit status 1
    compile_cache.enable(FLAGS.config.compile_cache_dir)
    import jax

    from whispersign_jax import distributed, train

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
    from whispersign_jax.checkpointing import CorruptCheckpointError
    from whispersign_jax.stop_signals import TrainingStoppedError
    from whispersign_jax.workdir import ConfigMismatchError, WorkdirInUseError

    try:
        train.train_and_evaluate(FLAGS.config, workdir)
    except TrainingStoppedError as stopped:  # a clean stop: exit 0
        logging.warning("%s", stopped)
        print(stopped, flush=True)
    except (ConfigMismatchError, WorkdirInUseError, CorruptCheckpointError) as error:
        raise SystemExit(f"error: {error}") from None  # one line, exit status 1


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
