r"""Command line of `scripts/prepare_vsl_data.py`: a raw dataset format -> the processed layout,
or with `--layout corpus` a corpus of sharded ArrayRecord files (docs/scaling.md).

    python scripts/prepare_vsl_data.py --format mp_data --data_dir MP_Data \
        --output_dir data/processed [--joint_set hands_pose] [--layout corpus]

Prints a summary (samples per split, glosses, skipped files with reasons) and writes
`<output_dir>/failures.csv` listing every skipped file and why. Exit status: 0 when samples
were written, 1 when nothing usable was found, 2 for a bad setting or dataset layout.
"""

from __future__ import annotations

import functools
import sys

from absl import flags

from whispersign_jax import cli
from whispersign_jax import keypoints as kp
from whispersign_jax.cli.flag_names import MEDIAPIPE_MODELS, RENAMED, define_absl_old_names
from whispersign_jax.data.contract import SPLIT_FRACTIONS, SPLIT_SEED, UNTIMED_FPS
from whispersign_jax.data.prepare import split_by_recording, write_processed
from whispersign_jax.data.prepare.formats import FORMATS, OPTIONS, read_format, taking
from whispersign_jax.data.prepare.runner import write_failures
from whispersign_jax.data.processed import existing_samples, refuse_existing
from whispersign_jax.errors import one_line_errors


def fractions(text: str) -> tuple[float, float, float]:
    """``--split_fractions``: train,val,test."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        example = ",".join(map(str, SPLIT_FRACTIONS))
        cli.usage_error(f"--split_fractions={text!r}: give train,val,test, e.g. {example}")
    return values


def option_help(option: str, default: str = "") -> str:
    """The option's meaning, the formats that take it and its default."""
    return f"{OPTIONS[option]} ({', '.join(taking(option))}{default})."


def define_flags(values: flags.FlagValues) -> None:
    """prepare's flags, on ``values`` (``cli.parse_own_flags``)."""
    define = functools.partial(_define, values)
    define(flags.DEFINE_enum, "format", None, list(FORMATS),
           "The raw dataset format (listed above).", required=True)  # fmt: skip
    define(flags.DEFINE_string, "data_dir", None, "The dataset folder.", required=True)
    define(flags.DEFINE_string, "output_dir", "data/processed", "Where the dataset goes.")
    define(flags.DEFINE_enum, "layout", "processed", ["processed", "corpus"],
           "processed: a .npy file per clip; corpus: sharded ArrayRecord files, written one "
           "clip at a time (docs/scaling.md).")  # fmt: skip
    define(flags.DEFINE_integer, "clips_per_shard", None, "--layout corpus: clips per shard.",
           lower_bound=1)  # fmt: skip
    define(flags.DEFINE_float, "target_fps", float(kp.FPS), "Output frame rate.")
    joint_sets = ", ".join(s.describe() for s in kp.JOINT_SETS.values())
    define(flags.DEFINE_enum, "joint_set", kp.DEFAULT_JOINT_SET, list(kp.JOINT_SETS),
           f"Joint set: {joint_sets}.")  # fmt: skip
    define(flags.DEFINE_string, "split_fractions", ",".join(map(str, SPLIT_FRACTIONS)),
           "train,val,test.")  # fmt: skip
    define(flags.DEFINE_integer, "seed", SPLIT_SEED, "Seed of the split by recording.")
    define(flags.DEFINE_bool, "overwrite", False, "Replace a dataset already in --output_dir.")
    # Format options: left unset (None) unless given, so a format never gets one it lacks.
    define(flags.DEFINE_string, "label_csv", None, option_help("label_csv"))
    define(flags.DEFINE_float, "fps", None, option_help("fps", f"; default {UNTIMED_FPS:g}"))
    define(flags.DEFINE_bool, "mirrored", None, option_help("mirrored"))
    define(flags.DEFINE_integer, "workers", None, option_help("workers", "; default: CPUs"))
    define(flags.DEFINE_string, "backend", None, option_help("backend", "; default auto"))
    for old in MEDIAPIPE_MODELS:
        define(flags.DEFINE_string, RENAMED[old], None, option_help(old))
    for alias, name in (("source", "format"), ("mp_data_fps", "fps"), ("voya_fps", "fps")):
        flags.DEFINE_alias(alias, name, flag_values=values)  # older names, still current
    define_absl_old_names("keypoints", *MEDIAPIPE_MODELS, flag_values=values)


def _define(values: flags.FlagValues, define, name, default, *args, **kwargs) -> None:
    define(name, default, *args, flag_values=values, **kwargs)


def usage() -> str:
    """--help's text: the module's docstring and the formats."""
    formats = "\n".join(f"  {f.name:12} {f.description}" for f in FORMATS.values())
    return f"{__doc__.strip()}\n\nformats:\n{formats}"


def parse_args(argv: list[str] | None = None) -> flags.FlagValues:
    """The parsed flags (``--help`` and wrong flags end the command, see ``cli``)."""
    return cli.parse_own_flags(define_flags, argv, usage())


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    split_fractions = fractions(args.split_fractions)
    # Format options keep their old names inside (model_path ...), the flags the new ones.
    options = {option: getattr(args, RENAMED.get(option, option)) for option in OPTIONS}
    if args.layout == "corpus":
        return prepare_corpus_command(args, split_fractions, options)
    if args.clips_per_shard is not None:
        cli.usage_error("--clips_per_shard applies to --layout corpus only")
    try:
        # A dataset already there is refused before any work, and is never touched by a
        # refused or failed run: failures.csv is written with the new dataset only.
        refuse_existing(args.output_dir, args.overwrite)
        result = read_format(
            args.format,
            args.data_dir,
            target_fps=args.target_fps,
            keypoints=args.joint_set,
            **options,
        )
        for origin, reason in result.failures:
            print(f"skipped {origin}: {reason}", file=sys.stderr)
        print(f"{args.format}: {result.summary()}")
        if not result.samples:
            if existing_samples(args.output_dir):
                print(
                    f"error: no usable samples; the dataset in {args.output_dir} is left as it "
                    "was (reasons above)",
                    file=sys.stderr,
                )
            else:
                failures_file = write_failures(result.failures, args.output_dir)
                print(f"error: no usable samples; see {failures_file}", file=sys.stderr)
            return 1
        splits = split_by_recording(result.samples, split_fractions, args.seed)
        vocabulary = write_processed(
            splits, args.output_dir, overwrite=args.overwrite, keypoints=args.joint_set
        )
        failures_file = write_failures(result.failures, args.output_dir)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{name} {len(samples)}" for name, samples in splits.items())
    print(
        f"wrote {sizes} samples of {vocabulary.num_glosses} glosses ({args.joint_set} "
        f"keypoints) to {args.output_dir}"
    )
    print(f"skipped files and reasons: {failures_file}")
    return 0


def prepare_corpus_command(args: flags.FlagValues, split_fractions, options: dict) -> int:
    """`--layout corpus`: the same messages and exit status as the processed layout."""
    from whispersign_jax.data.prepare.common import summary_text
    from whispersign_jax.data.prepare.corpus_layout import prepare_corpus

    options = {"target_fps": args.target_fps, **options}
    try:
        done = prepare_corpus(
            args.format, args.data_dir, args.output_dir, joint_set=args.joint_set,
            fractions=split_fractions, seed=args.seed, overwrite=args.overwrite,
            clips_per_shard=args.clips_per_shard, options=options,
        )  # fmt: skip
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for origin, reason in done.failures:
        print(f"skipped {origin}: {reason}", file=sys.stderr)
    print(f"{args.format}: {summary_text(sum(done.clips.values()), done.failures, done.handless)}")
    if not sum(done.clips.values()):
        if done.failures_file is None:
            print(
                f"error: no usable samples; the corpus in {args.output_dir} is left as it was "
                "(reasons above)",
                file=sys.stderr,
            )
        else:
            print(f"error: no usable samples; see {done.failures_file}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{name} {count}" for name, count in done.clips.items())
    print(
        f"wrote {sizes} samples of {done.num_glosses} glosses ({args.joint_set} keypoints) "
        f"to {args.output_dir} (corpus layout)"
    )
    print(f"skipped files and reasons: {done.failures_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
