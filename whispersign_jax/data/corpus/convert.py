r"""Converts a processed folder (`.npy` per clip) into a corpus, one clip at a time.

    python -m whispersign_jax.data.corpus.convert --processed data/processed \
        --output data/corpus [--clips_per_shard 1024] [--overwrite]

Splits are kept; gloss ids become names through the folder's label map (the corpus numbers
its own glosses in sorted name order); the joint set comes from keypoints.json. Origins are
the feature files' paths relative to --processed, so each split keeps the processed order.
A file that cannot be read or fails the checks training applies is skipped and listed with
its reason in `<output>/failures.csv`. Exit status: 0 when clips were written, 1 when none
was usable, 2 for a bad setting or folder.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from absl import flags

from whispersign_jax import cli
from whispersign_jax.data import processed
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus.jobs import ClipMaker, processed_jobs, write_jobs
from whispersign_jax.data.corpus.writer import CLIPS_PER_SHARD, CorpusWriter, existing_corpus
from whispersign_jax.data.prepare.runner import write_failures
from whispersign_jax.errors import one_line_errors


@dataclasses.dataclass(frozen=True)
class Conversion:
    """What a conversion wrote and skipped."""

    clips: dict[str, int]  # split -> clips written
    num_glosses: int
    joint_set: str
    failures: list[tuple[str, str]]  # (origin, reason)
    failures_file: Path | None  # None: nothing written, an existing corpus left as it was


def convert_processed(
    processed_dir: str | Path,
    output: str | Path,
    clips_per_shard: int = CLIPS_PER_SHARD,
    overwrite: bool = False,
) -> Conversion:
    """Writes the corpus of the processed folder ``processed_dir`` at ``output``; a corpus
    already there is refused unless ``overwrite`` (FileExistsError)."""
    if not Path(processed_dir).is_dir():
        raise FileNotFoundError(
            f"{processed_dir} is not a folder; give the folder that scripts/prepare_vsl_data.py "
            "wrote (the processed layout)."
        )
    joint_set = processed.read_joint_set(processed_dir)
    writer = CorpusWriter(output, joint_set, overwrite, clips_per_shard)
    jobs = processed_jobs(processed_dir)
    write_jobs(jobs, writer, ClipMaker(joint_set, processed_root=str(processed_dir)))
    clips = {split: len(writer.rows[split]) for split in SPLITS}
    if not sum(clips.values()):
        failures_file = None if existing_corpus(output) else write_failures(writer.failures, output)
        return Conversion(clips, 0, joint_set, writer.failures, failures_file)
    vocabulary = writer.close()
    failures_file = write_failures(writer.failures, output)
    return Conversion(clips, vocabulary.num_glosses, joint_set, writer.failures, failures_file)


def define_flags(values: flags.FlagValues) -> None:
    """convert's flags, on ``values`` (``cli.parse_own_flags``)."""
    flags.DEFINE_string("processed", None, "The processed folder to convert.", required=True,
                        flag_values=values)  # fmt: skip
    flags.DEFINE_string("output", None, "Where the corpus goes.", required=True,
                        flag_values=values)  # fmt: skip
    flags.DEFINE_integer("clips_per_shard", CLIPS_PER_SHARD, "Clips per ArrayRecord shard.",
                         lower_bound=1, flag_values=values)  # fmt: skip
    flags.DEFINE_bool("overwrite", False, "Replace a corpus already in --output.",
                      flag_values=values)  # fmt: skip


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = cli.parse_own_flags(define_flags, argv, __doc__)
    try:
        done = convert_processed(args.processed, args.output, args.clips_per_shard, args.overwrite)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for origin, reason in done.failures:
        print(f"skipped {origin}: {reason}", file=sys.stderr)
    if done.failures_file is None or not sum(done.clips.values()):
        where = done.failures_file or f"the corpus in {args.output} is left as it was"
        print(
            f"error: no usable clip in {args.processed} (reasons above; {where})", file=sys.stderr
        )
        return 1
    sizes = ", ".join(f"{split} {count}" for split, count in done.clips.items())
    print(
        f"wrote {sizes} clips of {done.num_glosses} glosses ({done.joint_set} keypoints) to "
        f"{args.output}; {len(done.failures)} skipped, listed in {done.failures_file}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
