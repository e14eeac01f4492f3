"""Dataset preparation: read a source into `SourceSample`s, split by recording, write the
processed layout. NumPy only (no JAX, no TensorFlow), so it runs in a light environment.

    result = read_source("mp_data", "MP_Data")
    splits = split_by_recording(result.samples, (0.8, 0.1, 0.1), seed=0)
    vocabulary = write_processed(splits, "data/processed")
"""

from __future__ import annotations

from pathlib import Path

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare.common import SourceResult, SourceSample
from whispersign_jax.data.prepare.layout import write_processed
from whispersign_jax.data.prepare.splitting import SPLITS, split_by_recording

SOURCES = ("kaggle", "huggingface", "video", "pose", "mp_data")

__all__ = [
    "SOURCES",
    "SPLITS",
    "SourceResult",
    "SourceSample",
    "read_source",
    "split_by_recording",
    "write_processed",
]


def read_source(
    source: str,
    data_dir: str | Path,
    *,
    label_csv: str | Path | None = None,
    target_fps: float = kp.FPS,
    workers: int | None = None,
    mp_data_fps: float = 30.0,
    voya_fps: float = 30.0,
    mirrored: bool = False,
    backend: str = "auto",
    model_path: str | None = None,
) -> SourceResult:
    """Reads one source into 60 FPS keypoint samples; bad entries are skipped with reasons.

    `source`: kaggle (videos + label.csv), huggingface (a local copy of Kateht/VOYA_VSL),
    video (a folder of videos with `label_csv`), pose (.pose files), mp_data (MP_Data folders).
    `workers`, `backend`, `model_path`, `mirrored` apply to video extraction (`mirrored`
    also to MP_Data and .pose hands); `mp_data_fps` and `voya_fps` are the frame rates of
    sources without timestamps.
    """
    if source == "mp_data":
        from whispersign_jax.data.prepare.mp_data import read_mp_data

        return read_mp_data(data_dir, fps=mp_data_fps, target_fps=target_fps, mirrored=mirrored)
    if source == "huggingface":
        from whispersign_jax.data.prepare.voya import read_voya

        return read_voya(data_dir, fps=voya_fps, target_fps=target_fps)
    if source == "pose":
        from whispersign_jax.data.prepare.pose_format import read_pose_folder

        return read_pose_folder(
            data_dir, label_csv=label_csv, target_fps=target_fps, mirrored=mirrored
        )
    if source in ("kaggle", "video"):
        from whispersign_jax.data.prepare import kaggle, video_csv

        options = dict(
            target_fps=target_fps,
            workers=workers,
            mirrored=mirrored,
            backend=backend,
            model_path=model_path,
        )
        if source == "kaggle":
            return kaggle.read_kaggle(data_dir, **options)
        if label_csv is None:
            raise ValueError("--source video needs --label_csv (a CSV of video paths and labels)")
        return video_csv.read_video_csv(data_dir, label_csv, **options)
    raise ValueError(f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
