"""Kaggle "VSL - Vietnamese Sign Languages": videos and a `label.csv` with `ID, VIDEO, LABEL`.

Two layouts are found (folder names in any case):

    <data_dir>/videos/*.mp4            + <data_dir>/label.csv
    <data_dir>/Dataset/Videos/*.mp4    + <data_dir>/Dataset/Labels/label.csv

The clips come from a sign dictionary that reuses one recording under regional variant
labels ("Xin chào B", "Xin chào T", "Xin chào N"). Each label stays its own gloss; the
recording id is the hash of the video's bytes, so a file listed under several labels, or
copied under another name, never spans two splits.
"""

from __future__ import annotations

import os
from pathlib import Path

from whispersign_jax.data.prepare.common import SourceResult
from whispersign_jax.data.prepare.video_csv import (
    VIDEO_SUFFIXES,
    LabelledVideo,
    extract_videos,
    labelled_videos,
)

# (videos folder, label CSV) relative to --data_dir, in the order they are tried.
LAYOUTS = (
    (("videos",), ("label.csv",)),
    (("dataset", "videos"), ("dataset", "labels", "label.csv")),
    (("videos",), ("labels", "label.csv")),  # --data_dir pointing at Dataset/ itself
)


def child(folder: Path, parts: tuple[str, ...]) -> Path | None:
    """`folder / parts...` matching each name case-insensitively, or None."""
    for part in parts:
        if not folder.is_dir():
            return None
        matches = sorted(p for p in folder.iterdir() if p.name.lower() == part)
        if not matches:
            return None
        folder = matches[0]
    return folder


def find_layout(data_dir: Path) -> tuple[Path, Path]:
    """(videos folder, label.csv) of either Kaggle layout; FileNotFoundError naming both."""
    for videos_parts, csv_parts in LAYOUTS:
        videos, label_csv = child(data_dir, videos_parts), child(data_dir, csv_parts)
        if videos is not None and videos.is_dir() and label_csv is not None:
            return videos, label_csv
    raise FileNotFoundError(
        f"{data_dir} is not a Kaggle VSL folder: expected videos/ + label.csv, or "
        "Dataset/Videos/ + Dataset/Labels/label.csv (columns ID, VIDEO, LABEL)"
    )


def list_kaggle(data_dir: str | Path) -> tuple[list[LabelledVideo], SourceResult]:
    """Every video that label.csv lists, before any extraction; the result holds the rows
    skipped and the videos that no row lists."""
    data_dir = Path(os.path.abspath(data_dir))
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir} is not a folder")
    videos_dir, label_csv = find_layout(data_dir)
    result = SourceResult()
    search_dirs = [videos_dir, videos_dir.parent, label_csv.parent, data_dir]
    videos = labelled_videos(label_csv, data_dir, search_dirs, result)
    listed = {video.path for video in videos}
    for path in sorted(videos_dir.rglob("*")):
        if path.suffix.lower() in VIDEO_SUFFIXES and path not in listed:
            result.skip(str(path), f"{path}: no row in {label_csv.name}, so no label; skipped")
    return videos, result


def read_kaggle(data_dir: str | Path, **options) -> SourceResult:
    """`--format kaggle`: every video that label.csv lists; unlisted videos are reported."""
    videos, result = list_kaggle(data_dir)
    return extract_videos(videos, result, **options)
