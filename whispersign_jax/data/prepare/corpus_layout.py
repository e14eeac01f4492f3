"""`whispersign-prepare --layout corpus`: a raw dataset format -> a corpus (``data.corpus``),
written one clip at a time.

Video formats stream: their videos are listed, hashed and assigned to splits before any is
extracted (``corpus.jobs``), so memory holds a clip per worker however many videos there are;
a video that then fails extraction leaves its split one clip short. The keypoint formats are
read twice, one clip at a time (``DatasetFormat.stream``): a first pass tallies the recordings
and assigns their splits as the processed layout does, the second writes each clip.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from whispersign_jax import keypoints as kp
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.prepare.common import SourceResult, SourceSample
from whispersign_jax.data.prepare.formats import get
from whispersign_jax.data.prepare.runner import default_workers, write_failures
from whispersign_jax.data.prepare.splitting import RecordingTally, assign_splits
from whispersign_jax.data.prepare.video_csv import extraction_settings


@dataclasses.dataclass(frozen=True)
class CorpusPreparation:
    """What a preparation into a corpus wrote and skipped."""

    clips: dict[str, int]  # split -> clips written
    num_glosses: int
    failures: list[tuple[str, str]]  # (origin, reason)
    handless: Counter  # kept clips without any hand, by glosses
    failures_file: Path | None  # None: nothing written, an existing corpus left as it was


def unique_origins(samples: Iterable[SourceSample]) -> Iterator[tuple[SourceSample, str]]:
    """Each sample with an origin of its own (the corpus orders clips by origin): a repeated
    origin gets `#2`, `#3` ..."""
    seen: Counter = Counter()
    for sample in samples:
        seen[sample.origin] += 1
        count = seen[sample.origin]
        yield sample, sample.origin if count == 1 else f"{sample.origin}#{count}"


def prepare_corpus(
    format_name: str,
    data_dir: str | Path,
    output_dir: str | Path,
    *,
    joint_set: str = kp.DEFAULT_JOINT_SET,
    fractions: Sequence[float],
    seed: int,
    overwrite: bool = False,
    clips_per_shard: int | None = None,
    options: Mapping[str, object],
) -> CorpusPreparation:
    """Reads dataset format `format_name` (`options`: its reader's, with `target_fps`) into a
    corpus at `output_dir`; a corpus already there is refused before any work unless
    `overwrite` (FileExistsError)."""
    from whispersign_jax.data.corpus.jobs import ClipMaker, video_jobs, write_jobs
    from whispersign_jax.data.corpus.records import CorpusClip
    from whispersign_jax.data.corpus.writer import CLIPS_PER_SHARD, CorpusWriter, existing_corpus

    shard_size = clips_per_shard or CLIPS_PER_SHARD
    writer = CorpusWriter(output_dir, joint_set, overwrite, shard_size)
    dataset_format = get(format_name)
    if dataset_format.lister:
        videos, result, extraction = dataset_format.list_videos(data_dir, joint_set, **options)
        target_fps, tracker, workers = extraction_settings(**extraction)
        jobs, unreadable = video_jobs(videos, fractions, seed)
        maker = ClipMaker(tracker.keypoints, target_fps=target_fps, tracker=tracker)
        handless = write_jobs(jobs, writer, maker, workers or default_workers())
        failures = [*result.failures, *unreadable]
    else:
        samples = functools.partial(dataset_format.stream, data_dir, keypoints=joint_set, **options)
        tally = RecordingTally.of(
            (sample.recording, sample.glosses) for sample in samples(SourceResult())
        )  # the first pass: which recordings there are, for the split
        split_of = assign_splits(tally.facts, fractions, seed)
        result = SourceResult()
        handless, failures = Counter(), result.failures
        for sample, origin in unique_origins(samples(result)):
            clip = CorpusClip(sample.keypoints, sample.glosses, origin, sample.recording)
            if writer.add(split_of[sample.recording], clip) and not kp.has_hand(clip.keypoints):
                handless[" ".join(clip.glosses)] += 1
    failures = [*failures, *writer.failures]
    clips = {split: len(writer.rows[split]) for split in SPLITS}
    if not sum(clips.values()):
        failures_file = (
            None if existing_corpus(output_dir) else write_failures(failures, output_dir)
        )
        return CorpusPreparation(clips, 0, failures, handless, failures_file)
    vocabulary = writer.close()
    failures_file = write_failures(failures, output_dir)
    return CorpusPreparation(clips, vocabulary.num_glosses, failures, handless, failures_file)
