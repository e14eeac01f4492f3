"""A folder of videos with a CSV of video paths and gloss labels (`--format video`).

Columns are found by name, case-insensitively: the video column is named like `video`,
`path` or `file`, the label column like `label` or `gloss`. Paths in the CSV are relative to
the data folder and must stay inside it. Every distinct video is extracted once (in parallel
worker processes) and becomes one sample per label it carries.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare.common import SourceResult, SourceSample, clean_gloss
from whispersign_jax.data.prepare.paths import is_inside, resolve_inside
from whispersign_jax.data.prepare.runner import run_jobs
from whispersign_jax.extraction.tracker import TrackerSettings

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
# Column names, most specific first; a column matches a name exactly or contains it.
VIDEO_COLUMNS = ("video_path", "video", "path", "file", "filename", "clip")
LABEL_COLUMNS = ("label", "gloss", "glosses", "labels", "word", "sign", "class")


@dataclasses.dataclass(frozen=True)
class LabelledVideo:
    """One CSV row: a video file and its gloss."""

    path: Path
    gloss: str
    origin: str  # "<csv>:<line>"


@dataclasses.dataclass(frozen=True)
class ExtractionJob:
    """What a worker process needs to extract one video."""

    path: Path
    target_fps: float
    tracker: TrackerSettings


def read_csv_rows(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of a CSV with a header; the delimiter (`,` `;` tab) is detected."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{csv_path}: cannot read the label CSV ({error})") from error
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = [name.strip() for name in reader.fieldnames or []]
    if not columns:
        raise ValueError(f"{csv_path}: the label CSV is empty (expected a header row)")
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    return columns, rows


def _find_column(columns: Sequence[str], names: Sequence[str]) -> list[str]:
    lowered = {column: column.lower().replace(" ", "_") for column in columns}
    for name in names:
        exact = [column for column, low in lowered.items() if low == name]
        if exact:
            return exact
    return [c for c, low in lowered.items() if any(name in low for name in names)]


def detect_columns(columns: Sequence[str], csv_path: Path) -> tuple[str, str]:
    """(video column, label column); a ValueError listing the columns when it cannot decide."""
    video, label = _find_column(columns, VIDEO_COLUMNS), _find_column(columns, LABEL_COLUMNS)
    if len(video) != 1 or len(label) != 1 or video == label:
        raise ValueError(
            f"{csv_path}: cannot tell the video and label columns apart among {list(columns)}; "
            f"name exactly one column like {VIDEO_COLUMNS[:3]} (the video file) and one like "
            f"{LABEL_COLUMNS[:2]} (the gloss)"
        )
    return video[0], label[0]


def video_candidates(written: str) -> list[str]:
    """The path as written, and with `.mp4` appended when it has no video suffix."""
    if Path(written).suffix.lower() in VIDEO_SUFFIXES:
        return [written]
    return [written, written + ".mp4"]


def labelled_videos(
    csv_path: Path, data_dir: Path, search_dirs: Sequence[Path], result: SourceResult
) -> list[LabelledVideo]:
    """The CSV's rows as videos inside `data_dir`, looked up in `search_dirs` in order.

    Rows without a usable video or label are recorded in `result` and left out.
    """
    columns, rows = read_csv_rows(csv_path)
    video_column, label_column = detect_columns(columns, csv_path)
    videos, seen = [], set()
    for line, row in enumerate(rows, start=2):
        origin = f"{csv_path}:{line}"
        written, gloss = row.get(video_column, ""), clean_gloss(row.get(label_column, ""))
        if not written or not gloss:
            result.skip(origin, f"{origin}: empty {video_column if not written else label_column}")
            continue
        paths, refused = [], None
        for candidate in video_candidates(written):
            for folder in search_dirs:
                try:
                    paths.append(resolve_inside(data_dir, candidate, origin, base=folder))
                except ValueError as error:  # leaves the data folder from this base
                    refused = error
        if not paths and refused is not None:
            result.skip(origin, str(refused))
            continue
        path = next((p for p in paths if p.is_file()), None)
        if path is None:
            result.skip(
                origin,
                f"{origin}: video {written!r} not found in {[str(d) for d in search_dirs]}",
            )
            continue
        if (path, gloss) not in seen:
            seen.add((path, gloss))
            videos.append(LabelledVideo(path, gloss, origin))
    return videos


def content_hash(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def extract_job(job: ExtractionJob) -> tuple[np.ndarray, str]:
    """Runs in a worker process: (keypoints `(T, J, 7)`, sha1 of the file) of one video."""
    from whispersign_jax.extraction import pipeline

    options = job.tracker.options()
    keypoints = pipeline.extract_keypoints(job.path, target_fps=job.target_fps, **options)
    keypoints = kp.validate_keypoints(keypoints, str(job.path), job.tracker.keypoints)
    return keypoints, content_hash(job.path)


def extraction_settings(
    target_fps: float = kp.FPS,
    workers: int | None = None,
    mirrored: bool = False,
    backend: str = "auto",
    model_path: str | None = None,
    keypoints: str = kp.DEFAULT_JOINT_SET,
    pose_model_path: str | None = None,
    face_model_path: str | None = None,
) -> tuple[float, TrackerSettings, int | None]:
    """The video formats' extraction options as (target fps, tracker settings, workers)."""
    tracker = TrackerSettings(
        keypoints, backend, mirrored, model_path, pose_model_path, face_model_path
    )
    return target_fps, tracker, workers


def extract_videos(
    videos: Sequence[LabelledVideo], result: SourceResult, **options
) -> SourceResult:
    """Extracts each distinct video once (``extraction_settings``' options) and adds one
    sample per (video, gloss) to `result`.

    The recording id is the sha1 of the video's bytes: a file listed under several labels,
    or copied under another name, stays in one split.
    """
    target_fps, tracker, workers = extraction_settings(**options)
    paths = sorted({video.path for video in videos})
    jobs = [ExtractionJob(p, target_fps, tracker) for p in paths]
    outcomes = dict(zip(paths, run_jobs(extract_job, jobs, workers, "extracting"), strict=True))
    for path, (_, error) in outcomes.items():
        if error is not None:
            result.skip(str(path), error)
    for video in videos:
        output, _ = outcomes[video.path]
        if output is not None:
            keypoints, digest = output
            recording = f"sha1:{digest}"
            result.samples.append(SourceSample(keypoints, (video.gloss,), recording, video.origin))
    return result


def list_video_csv(
    data_dir: str | Path, label_csv: str | Path
) -> tuple[list[LabelledVideo], SourceResult]:
    """The videos that `label_csv` lists, relative to `data_dir`, before any extraction; the
    result holds the rows skipped."""
    data_dir = Path(os.path.abspath(data_dir))
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir} is not a folder")
    csv_path = Path(label_csv)
    if not csv_path.is_file() and (data_dir / csv_path).is_file():
        csv_path = data_dir / csv_path
    if not csv_path.is_file():
        raise FileNotFoundError(f"--label_csv {label_csv}: no such file")
    result = SourceResult()
    search_dirs = [d for d in (data_dir, csv_path.parent) if is_inside(data_dir, d)]
    return labelled_videos(csv_path, data_dir, search_dirs, result), result


def read_video_csv(data_dir: str | Path, label_csv: str | Path, **options) -> SourceResult:
    """`--format video`: the videos that `label_csv` lists, relative to `data_dir`."""
    videos, result = list_video_csv(data_dir, label_csv)
    return extract_videos(videos, result, **options)
