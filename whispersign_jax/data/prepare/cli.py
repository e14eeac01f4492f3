"""Command line of `scripts/prepare_vsl_data.py`: a source -> the processed layout.

    python scripts/prepare_vsl_data.py --source mp_data --data_dir MP_Data \
        --output_dir data/processed

Prints a summary (samples per split, glosses, skipped files with reasons) and writes
`<output_dir>/failures.csv` listing every skipped file and why. Exit status: 0 when samples
were written, 1 when nothing usable was found, 2 for a bad setting or dataset layout.
"""

from __future__ import annotations

import argparse
import sys

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare import SOURCES, read_source, split_by_recording, write_processed
from whispersign_jax.data.prepare.runner import write_failures


def fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give train,val,test, e.g. 0.8,0.1,0.1")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--source", required=True, choices=SOURCES, help="dataset kind (README: 'Data')")
    add("--data_dir", required=True, help="the dataset folder")
    add("--label_csv", default=None, help="video/pose source: CSV of file paths and labels")
    add("--output_dir", default="data/processed", help="where the processed layout goes")
    add("--target_fps", type=float, default=float(kp.FPS), help="output frame rate")
    add("--split_fractions", type=fractions, default=(0.8, 0.1, 0.1), help="train,val,test")
    add("--seed", type=int, default=0, help="seed of the split by recording")
    add("--workers", type=int, default=None, help="video extraction processes (default: CPUs)")
    add("--backend", default="auto", help="MediaPipe backend: auto, tasks or legacy")
    add("--model_path", default=None, help="hand_landmarker.task for the tasks backend")
    add("--mirrored", action="store_true", help="videos/tracks are mirrored (selfie view)")
    add("--mp_data_fps", type=float, default=30.0, help="frame rate of MP_Data sequences")
    add("--voya_fps", type=float, default=30.0, help="frame rate of VOYA_VSL sequences")
    add("--overwrite", action="store_true", help="replace a dataset already in --output_dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = read_source(
            args.source,
            args.data_dir,
            label_csv=args.label_csv,
            target_fps=args.target_fps,
            workers=args.workers,
            mp_data_fps=args.mp_data_fps,
            voya_fps=args.voya_fps,
            mirrored=args.mirrored,
            backend=args.backend,
            model_path=args.model_path,
        )
        failures_file = write_failures(result.failures, args.output_dir)
        for origin, reason in result.failures:
            print(f"skipped {origin}: {reason}", file=sys.stderr)
        print(f"{args.source}: {result.summary()}")
        if not result.samples:
            print(f"error: no usable samples; see {failures_file}", file=sys.stderr)
            return 1
        splits = split_by_recording(result.samples, args.split_fractions, args.seed)
        vocabulary = write_processed(splits, args.output_dir, overwrite=args.overwrite)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{name} {len(samples)}" for name, samples in splits.items())
    print(f"wrote {sizes} samples of {vocabulary.num_glosses} glosses to {args.output_dir}")
    print(f"skipped files and reasons: {failures_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
