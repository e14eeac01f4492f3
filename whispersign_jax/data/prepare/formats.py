"""The raw dataset formats that `prepare` reads: the one table to extend for a new format.

An entry names its reader (imported on first use, so `prepare` stays light), the options it
takes, the joint sets it can provide (`--joint_set`), and its TFDS builder; `read_format`, the
`--format` flag of `scripts/prepare_vsl_data.py` and the TFDS builders of
`data/tfds_builders` all follow it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator
from pathlib import Path

from whispersign_jax import keypoints as kp
from whispersign_jax.cli.flag_names import MEDIAPIPE_MODELS, RENAMED
from whispersign_jax.data.prepare.common import (
    SourceResult,
    SourceSample,
    skip_unusable_glosses,
    unusable_gloss,
)

# Options a reader may take (besides `target_fps`, which all take), with their meaning.
OPTIONS = {
    "label_csv": "CSV of file paths and labels",
    "fps": "frame rate of a format without timestamps",
    "mirrored": "videos/tracks are mirrored (selfie view)",
    "workers": "video extraction processes",
    "backend": "MediaPipe backend: auto, tasks or legacy",
    "model_path": "hand_landmarker.task for the tasks backend",
    "pose_model_path": "pose_landmarker_full.task for the tasks backend (pose)",
    "face_model_path": "face_landmarker.task for the tasks backend (lips)",
}
VIDEO_OPTIONS = (
    "mirrored", "workers", "backend", "model_path", "pose_model_path", "face_model_path",
)  # fmt: skip
HANDS_ONLY = ("hands",)


def flag_name(option: str) -> str:
    """The command-line flag of an option (the MediaPipe model paths were renamed)."""
    return RENAMED[option] if option in MEDIAPIPE_MODELS else option


ALL_JOINT_SETS = tuple(kp.JOINT_SETS)


@dataclasses.dataclass(frozen=True)
class DatasetFormat:
    """One raw dataset format."""

    name: str  # the --format value
    description: str  # one line, for --help and the TFDS dataset description
    reader: str  # "module:function" in whispersign_jax.data.prepare
    options: tuple[str, ...]  # keys of OPTIONS that the reader takes
    tfds_name: str  # name of its TFDS builder (the snake_case of the builder's class name)
    manual_download: str  # TFDS manual-download instructions
    needs_label_csv: bool = False  # label_csv is required, not optional
    joint_sets: tuple[str, ...] = HANDS_ONLY  # the keypoint joint sets its reader provides
    joint_sets_note: str = ""  # why it provides no others
    lister: str = ""  # "module:function" listing its videos before extraction (video formats)
    streamer: str = ""  # "module:function" yielding samples one at a time (keypoint formats)

    def checked_options(self, keypoints: str = kp.DEFAULT_JOINT_SET, **options) -> dict:
        """The reader's keyword arguments: `options` without the None values (not given),
        plus the joint set where the format takes one. An option the format does not take,
        or a joint set `keypoints` it does not provide, is a ValueError naming it."""
        keypoints = kp.joint_set(keypoints).name
        if keypoints not in self.joint_sets:
            note = f" ({self.joint_sets_note})" if self.joint_sets_note else ""
            raise ValueError(
                f"--joint_set {keypoints}: --format {self.name} provides "
                f"{' and '.join(self.joint_sets)} keypoints only{note}; use --joint_set "
                f"{self.joint_sets[-1]}."
            )
        options = {key: value for key, value in options.items() if value is not None}
        refused = sorted(set(options) - {"target_fps", *self.options})
        if refused:
            flags = ", ".join(f"--{flag_name(key)}" for key in refused)
            takes = ", ".join(f"--{flag_name(key)}" for key in self.options) or "none of them"
            raise ValueError(
                f"{flags} does not apply to --format {self.name} (it takes {takes}); leave it out."
            )
        if self.needs_label_csv and "label_csv" not in options:
            raise ValueError(f"--format {self.name} needs --label_csv ({OPTIONS['label_csv']})")
        if self.joint_sets != HANDS_ONLY:
            options["keypoints"] = keypoints
        return options

    def read(
        self, data_dir: str | Path, keypoints: str = kp.DEFAULT_JOINT_SET, **options
    ) -> SourceResult:
        """Runs the reader with `checked_options`. Samples of a reserved or empty gloss name
        are skipped."""
        options = self.checked_options(keypoints, **options)
        return skip_unusable_glosses(_function(self.reader)(data_dir, **options))

    def stream(
        self,
        data_dir: str | Path,
        result: SourceResult,
        keypoints: str = kp.DEFAULT_JOINT_SET,
        **options,
    ) -> Iterator[SourceSample]:
        """A keypoint format's samples one at a time (memory holds one), with `checked_options`;
        skipped entries, and samples of a reserved or empty gloss name, go to `result`."""
        if not self.streamer:
            raise ValueError(f"--format {self.name} is a format of videos: list them instead")
        options = self.checked_options(keypoints, **options)
        for sample in _function(self.streamer)(data_dir, result, **options):
            reason = unusable_gloss(sample.origin, sample.glosses)
            if reason is None:
                yield sample
            else:
                result.skip(sample.origin, reason)

    def list_videos(
        self, data_dir: str | Path, keypoints: str = kp.DEFAULT_JOINT_SET, **options
    ) -> tuple[list, SourceResult, dict]:
        """A video format's videos (``video_csv.LabelledVideo``) before any extraction: (videos,
        the entries skipped, the extraction options, ``video_csv.extraction_settings``'). Videos
        of a reserved or empty gloss name are skipped."""
        if not self.lister:
            raise ValueError(f"--format {self.name} is not a format of videos")
        options = self.checked_options(keypoints, **options)
        listing = {key: options.pop(key) for key in ("label_csv",) if key in options}
        videos, result = _function(self.lister)(data_dir, **listing)
        usable = []
        for video in videos:
            reason = unusable_gloss(video.origin, (video.gloss,))
            if reason is None:
                usable.append(video)
            else:
                result.skip(video.origin, reason)
        return usable, result, options


def _function(name: str):
    """The function "module:function" of `whispersign_jax.data.prepare`, imported now."""
    module, function = name.split(":")
    return getattr(importlib.import_module(f"whispersign_jax.data.prepare.{module}"), function)


FORMATS = {
    f.name: f
    for f in (
        DatasetFormat(
            name="kaggle",
            description='Kaggle "VSL - Vietnamese Sign Languages": videos + label.csv '
            "(ID, VIDEO, LABEL).",
            reader="kaggle:read_kaggle",
            lister="kaggle:list_kaggle",
            options=VIDEO_OPTIONS,
            tfds_name="vsl_kaggle",
            joint_sets=ALL_JOINT_SETS,  # videos go through the extractor
            manual_download="Download the Kaggle dataset 'VSL - Vietnamese Sign Languages' and "
            "unpack it in the manual folder (videos/ + label.csv, or Dataset/Videos/ + "
            "Dataset/Labels/label.csv).",
        ),
        DatasetFormat(
            name="huggingface",
            description="Hugging Face Kateht/VOYA_VSL: Merged/class_XXXX.npz + labels.json.",
            reader="voya:read_voya",
            streamer="voya:voya_samples",
            options=("fps",),
            tfds_name="voya_vsl",
            joint_sets=ALL_JOINT_SETS,
            manual_download="Download Kateht/VOYA_VSL from Hugging Face (`huggingface-cli "
            "download Kateht/VOYA_VSL --repo-type dataset --local-dir DIR`) and use DIR as "
            "the manual folder.",
        ),
        DatasetFormat(
            name="video",
            description="A folder of videos with a CSV of video paths and gloss labels.",
            reader="video_csv:read_video_csv",
            lister="video_csv:list_video_csv",
            options=("label_csv", *VIDEO_OPTIONS),
            tfds_name="sign_videos",
            joint_sets=ALL_JOINT_SETS,
            manual_download="Put the videos and a labels.csv (a video path and a label "
            "column) in the manual folder.",
            needs_label_csv=True,
        ),
        DatasetFormat(
            name="pose",
            description=".pose files (pose-format), labelled by a CSV or by their folder names.",
            reader="pose_format:read_pose_folder",
            streamer="pose_format:pose_samples",
            options=("label_csv", "mirrored"),
            tfds_name="sign_pose_files",
            joint_sets=ALL_JOINT_SETS,
            manual_download="Put the .pose files (and optionally a labels.csv) in the manual "
            "folder.",
        ),
        DatasetFormat(
            name="mp_data",
            description="MP_Data folders of the MediaPipe Holistic tutorial: "
            "<gloss>/<sequence>/<frame>.npy.",
            reader="mp_data:read_mp_data",
            streamer="mp_data:mp_data_samples",
            options=("fps", "mirrored"),
            tfds_name="mp_data",
            joint_sets=ALL_JOINT_SETS,  # as far as the frame layout carries them
            manual_download="Put the MP_Data folder (or its gloss folders) in the manual folder.",
        ),
    )
}


def get(name: str) -> DatasetFormat:
    if name not in FORMATS:
        raise ValueError(f"Unknown dataset format {name!r}; choose one of {', '.join(FORMATS)}.")
    return FORMATS[name]


def taking(option: str) -> list[str]:
    """Names of the formats that take `option`, for help texts."""
    return [f.name for f in FORMATS.values() if option in f.options]


def read_format(
    name: str,
    data_dir: str | Path,
    *,
    target_fps: float = kp.FPS,
    keypoints: str = kp.DEFAULT_JOINT_SET,
    **options,
) -> SourceResult:
    """Reads dataset format `name` (a key of `FORMATS`) into `target_fps` keypoint samples of
    joint set `keypoints`; bad entries are skipped with reasons. `options` are keys of
    `OPTIONS` that it takes."""
    return get(name).read(data_dir, keypoints=keypoints, target_fps=target_fps, **options)
