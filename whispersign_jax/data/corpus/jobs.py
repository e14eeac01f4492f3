"""Clip jobs: one light description per clip to write (where it comes from, its origin, split
and recording), and ``ClipMaker``, which turns a job into its ``CorpusClip``.

The Beam pipeline (``beam``), the conversion (``convert``) and ``whispersign-prepare --layout
corpus`` of video formats run the same jobs through the same maker, so they write the same
corpus. A job list holds no keypoints: splits are assigned from it before any clip exists.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import multiprocessing
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from whispersign_jax import keypoints as kp
from whispersign_jax.data import processed
from whispersign_jax.data.contract import SPLIT_FRACTIONS, SPLIT_SEED, SPLITS
from whispersign_jax.data.corpus.records import CorpusClip, decode_clip, encode_clip
from whispersign_jax.data.corpus.writer import CorpusWriter, check_clip
from whispersign_jax.data.prepare.runner import describe_error, progress
from whispersign_jax.data.prepare.splitting import RecordingTally, assign_splits
from whispersign_jax.data.prepare.video_csv import (
    ExtractionJob,
    LabelledVideo,
    content_hash,
    extract_job,
)
from whispersign_jax.data.synthetic import (
    SyntheticConfig,
    generate_sample,
    gloss_names,
    split_signers,
    split_size,
)
from whispersign_jax.data.validation import check_sample
from whispersign_jax.extraction.tracker import TrackerSettings
from whispersign_jax.vocab import Vocabulary

KINDS = ("processed", "video", "synthetic")
SYNTHETIC_JOINT_SET = kp.joint_set_for(kp.NUM_JOINTS).name  # data.synthetic draws both hands


@dataclasses.dataclass(frozen=True)
class ClipJob:
    """One clip to produce. Travels as JSON (``to_json``), never pickled."""

    kind: str  # one of KINDS
    origin: str  # unique in the corpus: the index is in the order of origins
    source: str = ""  # processed: feature file relative to the root; video: the file
    split: str = ""  # "" until assigned
    recording: str = ""
    glosses: tuple[str, ...] = ()  # known when listed (video); else read with the clip
    index: int = -1  # synthetic: the sample's index in its split

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> ClipJob:
        fields = json.loads(text)
        return cls(**{**fields, "glosses": tuple(fields["glosses"])})


@functools.lru_cache(maxsize=4)
def _processed_vocabulary(root: str) -> Vocabulary:
    return processed.load_vocabulary(root)


@dataclasses.dataclass(frozen=True)
class ClipMaker:
    """What turns jobs into clips: the settings every job of one run shares."""

    joint_set: str
    processed_root: str = ""  # processed jobs: the processed layout's folder
    target_fps: float = kp.FPS  # video jobs
    tracker: TrackerSettings | None = None  # video jobs
    synthetic: SyntheticConfig | None = None  # synthetic jobs

    def make(self, job: ClipJob) -> CorpusClip:
        """The job's clip, unchecked (``check_clip``); raises for a bad input."""
        if job.kind == "processed":
            return self._processed(job)
        if job.kind == "video":
            return self._video(job)
        if job.kind == "synthetic":
            return self._synthetic(job)
        raise ValueError(f"{job.origin}: unknown job kind {job.kind!r}; use one of {KINDS}")

    def _processed(self, job: ClipJob) -> CorpusClip:
        """A feature file and its label file, read and checked as training reads them
        (``processed.read_candidates``, ``validation.check_sample``)."""
        vocabulary = _processed_vocabulary(self.processed_root)
        feature_path = Path(self.processed_root) / job.source
        sample = processed.read_sample(feature_path)
        sample = check_sample(sample, vocabulary, str(feature_path), self.joint_set)
        glosses = tuple(vocabulary.names(sample.labels))
        spans = sample.spans if sample.timed else None
        return CorpusClip(sample.keypoints, glosses, job.origin, job.recording, spans=spans)

    def _video(self, job: ClipJob) -> CorpusClip:
        path = Path(job.source)
        keypoints, digest = extract_job(ExtractionJob(path, self.target_fps, self.tracker))
        if f"sha1:{digest}" != job.recording:
            raise ValueError(f"{path}: the file changed after it was listed; prepare again")
        return CorpusClip(keypoints, job.glosses, job.origin, job.recording)

    def _synthetic(self, job: ClipJob) -> CorpusClip:
        sample = generate_sample(self.synthetic, job.split, job.index)
        names = gloss_names(self.synthetic)
        glosses = tuple(names[int(label) - 1] for label in sample.labels)
        recording = f"synthetic:signer_{sample.signer}"
        return CorpusClip(
            sample.keypoints, glosses, job.origin, recording, sample.spans, sample.signer
        )


def produce(maker: ClipMaker, job: ClipJob) -> CorpusClip:
    """The job's clip, checked as the corpus writer checks it; raises for a bad input."""
    return check_clip(maker.make(job), maker.joint_set)


# Job lists.
def synthetic_config(clips: int, seed: int = 0) -> SyntheticConfig:
    """The synthetic set of the corpus benchmark: configs/demo.py's glosses and signers, in
    sentences of 2-4 glosses, with room for at least ``clips`` clips."""
    default = SyntheticConfig()
    signers = default.train_signers + default.val_signers + default.test_signers
    per_signer = math.ceil(clips / signers) + 1
    return SyntheticConfig(
        mode="continuous", min_glosses=2, max_glosses=4,
        continuous_samples_per_signer=per_signer, seed=seed,
    )  # fmt: skip


def synthetic_counts(config: SyntheticConfig, clips: int) -> dict[str, int]:
    """``clips`` dealt to the splits by their number of signers (train takes the rest)."""
    signers = {split: len(split_signers(config, split)) for split in SPLITS}
    total = sum(signers.values())
    counts = {split: clips * signers[split] // total for split in SPLITS[1:]}
    counts = {"train": clips - sum(counts.values()), **counts}
    too_many = [split for split in SPLITS if counts[split] > split_size(config, split)]
    if too_many:
        raise ValueError(f"{clips} clips do not fit the synthetic splits {too_many}")
    return counts


def synthetic_jobs(
    config: SyntheticConfig, counts: Mapping[str, int] | None = None
) -> list[ClipJob]:
    """The first ``counts[split]`` samples of each split (default: all of them)."""
    jobs = []
    for split in SPLITS:
        count = split_size(config, split) if counts is None else counts[split]
        for index in range(count):
            origin = f"synthetic/{split}/{index:08d}"
            jobs.append(ClipJob("synthetic", origin, split=split, index=index))
    return jobs


def _manifest_recordings(path: Path) -> dict[str, str]:
    """sample file name -> recording, from a processed split's manifest (absent: empty)."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row.get("sample", ""): row.get("recording", "") for row in csv.DictReader(f)}


def processed_jobs(root: str | Path) -> list[ClipJob]:
    """One job per feature file of a processed folder, keeping its split. Origins are the
    files' paths relative to ``root``, so the corpus keeps the processed order."""
    root = Path(root)
    _processed_vocabulary.cache_clear()  # a folder written again since
    processed.load_vocabulary(root)  # a missing or broken label map fails here, at once
    jobs = []
    for split in SPLITS:
        features = root / split / processed.FEATURES
        if not features.is_dir():
            raise FileNotFoundError(
                f"{features} does not exist: expected the processed layout "
                f"<dir>/{{{','.join(SPLITS)}}}/{processed.FEATURES}/*.npy; write it with "
                "scripts/prepare_vsl_data.py."
            )
        recordings = _manifest_recordings(root / split / processed.MANIFEST)
        for path in sorted(features.glob("*.npy")):
            origin = path.relative_to(root).as_posix()
            recording = recordings.get(path.name, "")
            jobs.append(ClipJob("processed", origin, origin, split, recording))
    return jobs


def video_jobs(
    videos: Sequence[LabelledVideo],
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    seed: int = SPLIT_SEED,
) -> tuple[list[ClipJob], list[tuple[str, str]]]:
    """(one job per listed video and gloss, with its split; the videos that cannot be read).

    The recording is the sha1 of the video's bytes, as ``--format video`` has it; splits are
    assigned over every readable listed video (``splitting.assign_splits``), before any is
    extracted.
    """
    digests, failures = {}, []
    for path in sorted({video.path for video in videos}):
        try:
            digests[path] = f"sha1:{content_hash(path)}"
        except OSError as error:
            failures.append((str(path), f"{path}: cannot read the video ({error})"))
    readable = [video for video in videos if video.path in digests]
    tally = RecordingTally.of((digests[video.path], (video.gloss,)) for video in readable)
    split_of = assign_splits(tally.facts, fractions, seed)
    jobs = []
    for video in readable:
        recording = digests[video.path]
        split = split_of[recording]
        jobs.append(
            ClipJob("video", video.origin, str(video.path), split, recording, (video.gloss,))
        )
    return jobs, failures


# One process.
def _made_record(maker: ClipMaker, job: str) -> tuple[bytes | None, str]:
    """Runs in a worker process: the checked clip of a job (JSON) as a record (safetensors
    bytes), or the reason it failed."""
    try:
        return encode_clip(produce(maker, ClipJob.from_json(job))), ""
    except Exception as error:  # reported and skipped, the run goes on
        return None, describe_error(error)


def _made_clips(
    maker: ClipMaker, jobs: Sequence[ClipJob], workers: int
) -> Iterator[tuple[ClipJob, CorpusClip | None, str]]:
    """(job, clip or None, failure reason) in job order; ``workers`` > 1 makes the clips in
    that many processes (records travel as safetensors bytes)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            try:
                yield job, maker.make(job), ""
            except Exception as error:  # reported and skipped, the run goes on
                yield job, None, describe_error(error)
        return
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no forked threads
    with spawn.Pool(workers) as pool:
        texts = (job.to_json() for job in jobs)
        made = pool.imap(functools.partial(_made_record, maker), texts, chunksize=1)
        for job, (record, reason) in zip(jobs, made, strict=True):
            yield job, (decode_clip(record) if record is not None else None), reason


def write_jobs(
    jobs: Iterable[ClipJob], writer: CorpusWriter, maker: ClipMaker, workers: int = 1
) -> Counter:
    """Makes each job's clip and adds it to ``writer`` as it comes (one clip in memory at a
    time; failures go to ``writer.failures``). Returns the kept clips without any hand,
    counted by glosses (for the summary)."""
    jobs = list(jobs)
    handless = Counter()
    made = _made_clips(maker, jobs, workers)
    for job, clip, reason in progress(made, "clips", "clip", len(jobs)):
        if clip is None:
            writer.failures.append((job.origin, reason))
        elif writer.add(job.split, clip) and not kp.has_hand(clip.keypoints):
            handless[" ".join(clip.glosses)] += 1
    return handless
