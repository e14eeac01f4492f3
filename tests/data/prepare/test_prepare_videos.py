"""Kaggle VSL and video+CSV sources with a stand-in extractor (no MediaPipe in this env)."""

import numpy as np
import pytest

from whispersign_jax.data.prepare import read_format
from whispersign_jax.data.prepare.paths import UnsafePathError, resolve_inside
from whispersign_jax.data.prepare.runner import run_jobs, write_failures
from whispersign_jax.extraction import pipeline


@pytest.fixture
def fake_extractor(monkeypatch):
    """Keypoints from the file's bytes: `frames:<n>` gives n frames, `nan` a NaN frame,
    anything else an ExtractionError. Records the settings it was called with."""
    calls = []

    def extract_keypoints(path, *, backend, target_fps, mirrored, model_path, keypoints, **models):
        assert keypoints == "hands" and models == {"pose_model_path": None, "face_model_path": None}
        calls.append((path.name, backend, target_fps, mirrored))
        content = path.read_bytes().decode()
        if content.startswith("frames:"):
            frames = int(content.split(":")[1])
            keypoints = np.full((frames, 42, 7), 0.5, np.float32)
            keypoints[:, :, 3:6] = 0.0
            return keypoints
        if content == "nan":
            keypoints = np.full((4, 42, 7), 0.5, np.float32)
            keypoints[1, 3, 0] = np.nan
            return keypoints
        raise pipeline.ExtractionError(f"{path}: no hand detected in any of its 9 frames")

    monkeypatch.setattr(pipeline, "extract_keypoints", extract_keypoints)
    return calls


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_kaggle_layout_keeps_a_recording_and_its_variant_labels_together(tmp_path, fake_extractor):
    videos = tmp_path / "videos"
    write(videos / "a.mp4", "frames:6")
    write(videos / "b.mp4", "frames:3")
    write(videos / "c.mp4", "frames:6")  # a byte copy of a.mp4 under another name
    write(videos / "broken.mp4", "garbage")
    write(videos / "nan.mp4", "nan")
    write(videos / "unlisted.mp4", "frames:5")
    write(tmp_path.parent / "outside.mp4", "frames:5")
    write(
        tmp_path / "label.csv",
        "ID,VIDEO,LABEL\n1,a.mp4,Xin chào B\n2,a.mp4,Xin chào T\n3,b.mp4,Cảm ơn\n"
        "4,c,Xin chào N\n5,broken.mp4,Ăn\n6,../../outside.mp4,Uống\n7,missing.mp4,Đi\n"
        "8,nan.mp4,Ngủ\n9,b.mp4,\n",
    )
    result = read_format("kaggle", tmp_path, workers=1, backend="legacy", mirrored=True)
    glosses = {s.glosses[0]: s for s in result.samples}
    assert sorted(glosses) == ["Cảm ơn", "Xin chào B", "Xin chào N", "Xin chào T"]
    assert glosses["Xin chào B"].recording == glosses["Xin chào T"].recording
    assert glosses["Xin chào N"].recording == glosses["Xin chào B"].recording  # same bytes
    assert glosses["Cảm ơn"].recording != glosses["Xin chào B"].recording
    assert glosses["Cảm ơn"].keypoints.shape == (3, 42, 7)
    # a.mp4 is extracted once for its two labels; settings reach the extractor.
    assert sorted(c[0] for c in fake_extractor) == [
        "a.mp4",
        "b.mp4",
        "broken.mp4",
        "c.mp4",
        "nan.mp4",
    ]
    assert {c[1:] for c in fake_extractor} == {("legacy", 60.0, True)}
    reasons = {origin.rsplit("/", 1)[-1]: reason for origin, reason in result.failures}
    assert "no hand detected" in reasons["broken.mp4"]
    assert "NaN or infinite values" in reasons["nan.mp4"]
    assert "leaves the data folder" in reasons["label.csv:7"]
    assert "not found" in reasons["label.csv:8"]
    assert "empty LABEL" in reasons["label.csv:10"]
    assert "no row in label.csv" in reasons["unlisted.mp4"]
    assert result.summary().startswith("4 ok, 6 skipped")


def test_kaggle_dataset_copy_layout_is_detected(tmp_path, fake_extractor):
    write(tmp_path / "Dataset" / "Videos" / "D0001.mp4", "frames:4")
    write(tmp_path / "Dataset" / "Labels" / "label.csv", "ID,VIDEO,LABEL\n1,D0001.mp4,Bố\n")
    write(tmp_path / "Dataset" / "Videos" / "D0002.mp4", "frames:3")
    with open(tmp_path / "Dataset" / "Labels" / "label.csv", "a", encoding="utf-8") as f:
        f.write("2,../Videos/D0002.mp4,Mẹ\n")  # relative to the CSV's folder, still inside
    result = read_format("kaggle", tmp_path, workers=1)
    assert [s.glosses for s in result.samples] == [("Bố",), ("Mẹ",)]
    assert result.failures == []
    with pytest.raises(FileNotFoundError, match=r"Dataset/Videos/ \+ Dataset/Labels/label\.csv"):
        read_format("kaggle", tmp_path / "Dataset" / "Videos")


def test_video_csv_detects_columns_and_resolves_paths_inside_the_folder(tmp_path, fake_extractor):
    write(tmp_path / "clips" / "x.mp4", "frames:5")
    write(tmp_path / "y.avi", "frames:2")
    write(tmp_path / "labels.csv", "Video Path;Gloss\nclips\\x.mp4;mẹ\ny.avi;  me\u0300  \n")
    result = read_format("video", tmp_path, label_csv="labels.csv", workers=1)
    assert [s.glosses for s in result.samples] == [("mẹ",), ("mè",)]  # NFC, trimmed
    assert [s.keypoints.shape[0] for s in result.samples] == [5, 2]


def test_video_csv_errors_name_the_columns_and_the_flags(tmp_path, fake_extractor):
    write(tmp_path / "a.csv", "front_video,side_video,label\nx.mp4,x.mp4,a\n")
    with pytest.raises(ValueError, match=r"among \['front_video', 'side_video', 'label'\]"):
        read_format("video", tmp_path, label_csv=tmp_path / "a.csv")
    write(tmp_path / "b.csv", "name,label\nx.mp4,a\n")
    with pytest.raises(ValueError, match="cannot tell the video and label columns apart"):
        read_format("video", tmp_path, label_csv=tmp_path / "b.csv")
    with pytest.raises(ValueError, match="needs --label_csv"):
        read_format("video", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"--label_csv nope\.csv"):
        read_format("video", tmp_path, label_csv="nope.csv")


def test_resolve_inside_refuses_paths_that_leave_the_folder(tmp_path):
    assert resolve_inside(tmp_path, "a/../b.mp4", "csv:2") == tmp_path / "b.mp4"
    for written in ("../b.mp4", "/etc/passwd", "a/../../b.mp4", "..\\b.mp4"):
        with pytest.raises(UnsafePathError, match=r"csv:2: path .* leaves the data folder"):
            resolve_inside(tmp_path, written, "csv:2")
    assert resolve_inside(tmp_path, str(tmp_path / "v.mp4"), "csv:2") == tmp_path / "v.mp4"


def test_run_jobs_in_worker_processes_reports_failures_in_order(tmp_path):
    outcomes = run_jobs(float, ["1.5", "x", "2"], workers=2)
    assert [result for result, _ in outcomes] == [1.5, None, 2.0]
    assert "could not convert string to float: 'x'" in outcomes[1][1]
    path = write_failures([("x.mp4", "no hand, at all")], tmp_path)
    assert path.read_text().splitlines() == ["origin,reason", 'x.mp4,"no hand, at all"']
