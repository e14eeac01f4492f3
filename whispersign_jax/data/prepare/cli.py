"""Command line of `scripts/prepare_vsl_data.py`: a raw dataset format -> the processed layout.

    python scripts/prepare_vsl_data.py --format mp_data --data_dir MP_Data \
        --output_dir data/processed [--joint_set hands_pose]

Prints a summary (samples per split, glosses, skipped files with reasons) and writes
`<output_dir>/failures.csv` listing every skipped file and why. Exit status: 0 when samples
were written, 1 when nothing usable was found, 2 for a bad setting or dataset layout.
"""

from __future__ import annotations

import argparse
import sys

from whispersign_jax import keypoints as kp
from whispersign_jax.data.contract import SPLIT_FRACTIONS, SPLIT_SEED, UNTIMED_FPS
from whispersign_jax.data.prepare import split_by_recording, write_processed
from whispersign_jax.data.prepare.formats import FORMATS, OPTIONS, read_format, taking
from whispersign_jax.data.prepare.runner import write_failures
from whispersign_jax.data.processed import existing_samples, refuse_existing
from whispersign_jax.errors import one_line_errors
from whispersign_jax.flag_names import MEDIAPIPE_MODELS, RENAMED, add_renamed_argument


def fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        example = ",".join(map(str, SPLIT_FRACTIONS))
        raise argparse.ArgumentTypeError(f"{text!r}: give train,val,test, e.g. {example}")
    return values


def option_help(option: str, default: str = "") -> str:
    """The option's meaning, the formats that take it and its default."""
    return f"{OPTIONS[option]} ({', '.join(taking(option))}{default})"


def parser() -> argparse.ArgumentParser:
    formats = "\n".join(f"  {f.name:12} {f.description}" for f in FORMATS.values())
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"formats:\n{formats}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = p.add_argument
    add("--format", "--source", dest="format", required=True, choices=FORMATS, metavar="FORMAT",
        help="the raw dataset format (listed below)")  # fmt: skip
    add("--data_dir", required=True, help="the dataset folder")
    add("--output_dir", default="data/processed", help="where the processed layout goes")
    add("--target_fps", type=float, default=float(kp.FPS), help="output frame rate")
    add_renamed_argument(p, "keypoints", default=kp.DEFAULT_JOINT_SET, choices=kp.JOINT_SETS,
        help="joint set: " + ", ".join(s.describe() for s in kp.JOINT_SETS.values()))  # fmt: skip
    add("--split_fractions", type=fractions, default=SPLIT_FRACTIONS, help="train,val,test")
    add("--seed", type=int, default=SPLIT_SEED, help="seed of the split by recording")
    add("--overwrite", action="store_true", help="replace a dataset already in --output_dir")
    # Format options: left unset (None) unless given, so a format never gets one it lacks.
    add("--label_csv", help=option_help("label_csv"))
    add("--fps", "--mp_data_fps", "--voya_fps", dest="fps", type=float,
        help=option_help("fps", f"; default {UNTIMED_FPS:g}"))  # fmt: skip
    add("--mirrored", action="store_true", default=None, help=option_help("mirrored"))
    add("--workers", type=int, help=option_help("workers", "; default: CPUs"))
    add("--backend", help=option_help("backend", "; default auto"))
    for old in MEDIAPIPE_MODELS:
        add_renamed_argument(p, old, help=option_help(old))
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Format options keep their old names inside (model_path ...), the flags the new ones.
    options = {option: getattr(args, RENAMED.get(option, option)) for option in OPTIONS}
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
        splits = split_by_recording(result.samples, args.split_fractions, args.seed)
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


if __name__ == "__main__":
    sys.exit(main())
