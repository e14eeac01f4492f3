"""Evaluates a trained workdir on a split and prints one JSON line.

    whispersign-evaluate --workdir=runs/demo [--split=test] [--stage=stage3]
        [--decoder=NAME] [--beam_size=N] [--ctc_weight=W] [--dtype=bfloat16]

(or ``python -m whispersign_jax.evaluate``). Loads the best checkpoint of the last trained
stage (or ``--stage``), applies the workdir's preprocessing, decodes with ``--decoder``
(default: attention rescoring of the CTC n-best; validation during training uses CTC greedy)
and prints ``accuracy`` (exact gloss sequence), ``top5_accuracy``, ``wer`` with its
substitutions / insertions / deletions, and ``samples``.
The full report goes to ``<workdir>/eval/<split>-<decoder>/``: ``metrics.json`` (the summary,
per-gloss accuracy by name, the confusion matrix), ``confusion.png``, and TensorBoard events
with the same scalars and the confusion matrix as an image.
Data of another joint set or vocabulary than the checkpoint's (a subset too) is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app, flags

from whispersign_jax import cli
from whispersign_jax.cli import compile_cache, strict_json
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.decoding import flags as decode_flags
from whispersign_jax.errors import one_line_errors

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags (defined by ``run``, not on import)."""
    flags.DEFINE_string("workdir", None, "Training workdir.", required=True)
    flags.DEFINE_enum("split", "test", list(SPLITS), "Split to evaluate.")
    flags.DEFINE_string("stage", "", "Stage to evaluate (default: the last trained one).")
    decode_flags.define_decode_flags()
    flags.adopt_module_key_flags(decode_flags)  # listed by --help
    flags.DEFINE_string("dtype", "", "Compute dtype override: float32 or bfloat16.")


@one_line_errors
def run_command(args) -> None:
    """The command line's work; ``args`` has the flags as attributes (absl FLAGS in use).
    JAX loads here, not on import, so that ``--help`` answers at once."""
    from whispersign_jax.training.evaluator import evaluate_workdir

    summary = evaluate_workdir(
        args.workdir,
        args.split,
        args.stage or None,
        decode_flags.decode_options(args),
        dtype=args.dtype or None,
    )
    print(strict_json.dumps(summary))  # a metric that is not finite: null


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    compile_cache.enable()  # $WHISPERSIGN_COMPILE_CACHE, "" = off
    run_command(FLAGS)


def run() -> None:
    """The ``whispersign-evaluate`` console script."""
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
