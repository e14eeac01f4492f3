"""Fuzz tests of the raw-format readers of `data/prepare/`: MP_Data folders (through the
prepare command line), `.pose` bytes (the real fixture truncated and bit-flipped), VOYA_VSL
class files and labels.json, and the label CSVs of the video and pose formats (parsed only;
no MediaPipe runs).

Every case ends in a result, skipped entries whose reasons name them, or a ValueError /
FileNotFoundError naming the dataset or file (tests/fuzzing.py).
"""

from __future__ import annotations

import io
import json
import os
import string
from pathlib import Path

import numpy as np
import pytest
from conftest import HOLISTIC_POSE
from fuzzing import check_skips, event, expect_clear, fuzz_settings, mutate
from hypothesis import given
from hypothesis import strategies as st
from test_prepare_voya import voya_frames

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare import cli, read_format
from whispersign_jax.data.prepare.common import SourceResult
from whispersign_jax.data.prepare.mp_data import LAYOUTS
from whispersign_jax.data.prepare.paths import is_inside
from whispersign_jax.data.prepare.pose_format import labels_from_csv, read_pose_keypoints
from whispersign_jax.data.prepare.video_csv import labelled_videos
from whispersign_jax.vocab import BLANK, SPECIAL_TOKENS

RESERVED = (BLANK, *SPECIAL_TOKENS)
# Folder names: any text a file system takes, the reserved token names, odd Unicode.
FOLDER_NAMES = st.one_of(
    st.sampled_from([*RESERVED, "hello", "xin chào", "cảm ơn", " a ", "-1", "²", "nothing"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0"),
            min_size=1, max_size=12),
).filter(lambda name: name not in (".", "..") and len(name.encode()) < 200)  # fmt: skip


def frame_values(draw, values: int, hands: int) -> np.ndarray:
    """One MP_Data frame of `values` values with hands per `hands` (bit 0 left, bit 1 right)."""
    frame = np.zeros(values)
    start = LAYOUTS.get(values)
    if start is None:
        return np.asarray(draw(st.lists(st.floats(), min_size=values, max_size=values)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if values > 126:
        frame[:start] = rng.uniform(0, 1, start)  # pose (and face)
    for side in range(2):
        if hands >> side & 1:
            frame[start + 63 * side : start + 63 * (side + 1)] = rng.uniform(0, 1, 63)
    return frame


@st.composite
def mp_data_folders(draw) -> dict[tuple[str, str, str], bytes]:
    """{(gloss, sequence, file name): bytes} of an MP_Data folder with odd content."""
    files = {}
    for gloss in draw(st.lists(FOLDER_NAMES, min_size=1, max_size=3, unique=True)):
        sequences = st.lists(st.sampled_from(["0", "1", "12", "²", "a"]), min_size=1, max_size=2)
        for sequence in draw(sequences):
            values = draw(st.sampled_from([*LAYOUTS, 125, 0]))
            frames = draw(st.integers(0, 4))
            for index in range(frames):
                name = f"{index}.npy"
                kind = draw(st.sampled_from(["frame"] * 5 + ["bytes", "mutated", "rename"]))
                frame = frame_values(draw, values, draw(st.integers(0, 3)))
                buffer = io.BytesIO()
                np.save(buffer, frame.astype(draw(st.sampled_from(["float64", "float32", "U3"]))))
                data = buffer.getvalue()
                if kind == "bytes":
                    data = draw(st.binary(max_size=64))
                elif kind == "mutated":
                    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
                    data = mutate(data, cut, [(draw(st.integers(0, 160)), draw(st.integers()))])
                elif kind == "rename":
                    name = draw(st.sampled_from(["01.npy", "x.npy", f"{index + 2}.npy", "².npy"]))
                files[(gloss, sequence, name)] = data
    return files


@given(folder=mp_data_folders(), joint_set=st.sampled_from(list(kp.JOINT_SETS)))
@fuzz_settings(60)
def test_fuzz_mp_data_prepare(tmp_path_factory, capsys, folder, joint_set):
    """The whole prepare command on odd MP_Data folders: exit 0, 1 or 2 with a message,
    never a traceback; what is written is a readable processed dataset."""
    root = tmp_path_factory.mktemp("mp_data")
    data_dir, output_dir = root / "MP_Data", root / "processed"
    for (gloss, sequence, name), data in folder.items():
        (data_dir / gloss / sequence).mkdir(parents=True, exist_ok=True)
        (data_dir / gloss / sequence / name).write_bytes(data)
    data_dir.mkdir(exist_ok=True)
    args = ["--format", "mp_data", "--data_dir", str(data_dir), "--output_dir", str(output_dir)]
    status = cli.main([*args, "--joint_set", joint_set])
    out, err = capsys.readouterr()
    assert status in (0, 1, 2)
    assert "Traceback" not in out + err
    event(f"exit status {status}")
    if status == 2:  # a dataset-level error: one line naming the folder
        assert str(data_dir) in err
    if status == 0:
        from whispersign_jax.data import processed, sources

        vocabulary = processed.load_vocabulary(output_dir)  # reserved gloss folders: skipped
        assert not set(RESERVED) & set(vocabulary.glosses)
        samples = sources.load_processed_split(output_dir, "train", vocabulary, joint_set)
        assert samples and all(s.keypoints.shape[1] == kp.joint_set(joint_set).num_joints
                               for s in samples)  # fmt: skip


@pytest.fixture(scope="module")
def pose_fixture() -> tuple[bytes, int]:
    """The real Holistic .pose file's bytes and the length of its header."""
    data = HOLISTIC_POSE.read_bytes()
    return data, 4096  # the 178 point names end before this byte


@given(data=st.data(), joint_set=st.sampled_from(list(kp.JOINT_SETS)))
@fuzz_settings(150)
def test_fuzz_pose_file(tmp_path_factory, pose_fixture, data, joint_set):
    original, header = pose_fixture
    cut = data.draw(st.one_of(st.none(), st.integers(0, header), st.integers(0, len(original))))
    index = st.one_of(st.integers(0, header), st.integers(0, len(original) - 1))
    flips = data.draw(st.lists(st.tuples(index, st.integers(0, 7)), max_size=4))
    path = tmp_path_factory.mktemp("pose") / "clip.pose"
    path.write_bytes(mutate(original, cut, flips))
    clip = expect_clear(lambda: read_pose_keypoints(path, keypoints=joint_set), [path])
    if clip is not None:
        kp.validate_keypoints(clip, str(path), joint_set)


def test_fuzz_pose_folder_skips_bad_files(tmp_path, pose_fixture):
    """A folder of good, truncated and random .pose files: the bad ones are skipped and named."""
    original, _ = pose_fixture
    for name, data in {"good": original, "cut": original[:5000], "junk": b"\x00" * 7}.items():
        (tmp_path / "hello").mkdir(exist_ok=True)
        (tmp_path / "hello" / f"{name}.pose").write_bytes(data)
    result = read_format("pose", tmp_path)
    assert len(result.samples) == 1 and check_skips(result.failures) == 2


@st.composite
def voya_folders(draw) -> tuple[bytes, dict[str, bytes]]:
    """(labels.json bytes, {class file name: bytes}) of a VOYA_VSL copy with odd content."""
    kind = draw(st.sampled_from(["list", "id->name", "name->id", "json", "bytes"]))
    names = draw(st.lists(FOLDER_NAMES, min_size=1, max_size=3))
    if kind == "list":
        labels = names
    elif kind == "id->name":
        labels = {draw(st.sampled_from(["0", "1", "-1", "²", "١", "x"])): n for n in names}
    elif kind == "name->id":
        labels = {n: draw(st.one_of(st.integers(-1, 3), st.booleans())) for n in names}
    else:
        labels = draw(st.recursive(st.none() | st.integers() | st.text(max_size=4),
                                   lambda c: st.lists(c, max_size=3)
                                   | st.dictionaries(st.text(max_size=3), c, max_size=3),
                                   max_leaves=6))  # fmt: skip
    labels_json = draw(st.binary(max_size=30)) if kind == "bytes" else json.dumps(labels).encode()
    files = {}
    for class_id in range(draw(st.integers(1, 2))):
        frames = voya_frames(class_id, frames=draw(st.sampled_from([60, 60, 2])))
        sequences = np.stack([frames.reshape(len(frames), 1605)] * 2)
        label_values = [[class_id] * 2, ["0", "x"], [7, 0], [0.5, 1], ["²", "0"], ["١", "-1"]]
        arrays = {"sequences": sequences, "labels": np.asarray(draw(st.sampled_from(label_values)))}
        shape = draw(st.sampled_from(["ok"] * 4 + ["drop", "reshape", "object"]))
        if shape == "drop":
            arrays.pop(draw(st.sampled_from(["sequences", "labels"])))
        elif shape == "reshape":
            arrays["sequences"] = sequences.reshape(2, -1)
        elif shape == "object":
            arrays["labels"] = np.asarray([None, "a"], dtype=object)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        content = buffer.getvalue()
        corruption = draw(st.sampled_from(["none"] * 3 + ["cut", "flip"]))
        cut = draw(st.integers(0, len(content))) if corruption == "cut" else None
        flips = []
        if corruption == "flip":
            flips = draw(st.lists(st.tuples(st.integers(0, len(content)), st.integers(0, 7)),
                                  min_size=1, max_size=3))  # fmt: skip
        files[f"class_{class_id:04d}.npz"] = mutate(content, cut, flips)
    return labels_json, files


@given(folder=voya_folders(), joint_set=st.sampled_from(list(kp.JOINT_SETS)))
@fuzz_settings(60)
def test_fuzz_voya(tmp_path_factory, folder, joint_set):
    labels_json, files = folder
    root = tmp_path_factory.mktemp("voya")
    (root / "Merged").mkdir()
    (root / "labels.json").write_bytes(labels_json)
    for name, content in files.items():
        (root / "Merged" / name).write_bytes(content)
    result = expect_clear(lambda: read_format("huggingface", root, keypoints=joint_set), [root])
    if result is not None:
        check_skips(result.failures)
        for sample in result.samples:
            kp.validate_keypoints(sample.keypoints, sample.origin, joint_set)
            assert sample.glosses[0] and sample.glosses[0] not in RESERVED


ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1258")
CSV_PATHS = st.one_of(
    st.sampled_from(["a.mp4", "a", "sub/b.mp4", "../a.mp4", "/etc/passwd", "..\\..\\x.mp4",
                     "sub/../a.mp4", "", " ", "a.mp4\0", "~/a.mp4", "C:\\a.mp4"]),
    st.text(string.printable, max_size=12),
)  # fmt: skip
CSV_HEADERS = st.sampled_from(
    [["video", "label"], ["VIDEO", "LABEL", "ID"], ["path", "gloss"], ["file", "video"],
     ["label"], [], ["video path", "word"], ["a", "b"], ["video", "label", "label"]]
)  # fmt: skip


@st.composite
def label_csvs(draw) -> bytes:
    """A label CSV: a header, rows of paths and labels, odd delimiters, quotes, encodings."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=80))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(CSV_HEADERS)
    rows = [header]
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(CSV_PATHS), draw(FOLDER_NAMES), draw(st.sampled_from(["", '"', "x,y"]))]
        rows.append(row[: draw(st.integers(0, 4))])
    text = "\n".join(delimiter.join(row) for row in rows)
    return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")


@given(content=label_csvs())
@fuzz_settings(200)
def test_fuzz_label_csv(tmp_path_factory, content):
    """The video format's CSV parsing and path resolution (no extraction) and the pose
    format's: rows become videos inside the data folder, or skips that name the CSV line."""
    data_dir = tmp_path_factory.mktemp("videos")
    (data_dir / "sub").mkdir()
    for name in ("a.mp4", "sub/b.mp4"):
        (data_dir / name).write_bytes(b"not a video")
    csv_path = data_dir / "labels.csv"
    csv_path.write_bytes(content)
    result = SourceResult()
    videos = expect_clear(lambda: labelled_videos(csv_path, data_dir, [data_dir], result),
                          [csv_path])  # fmt: skip
    check_skips(result.failures)
    for video in videos or ():
        assert is_inside(data_dir, video.path) and video.path.is_file() and video.gloss
    labels = expect_clear(lambda: labels_from_csv(data_dir, csv_path, SourceResult()), [csv_path])
    for path in labels or ():
        assert is_inside(data_dir, Path(os.path.abspath(path)))
