"""MP_Data folders: the real fixture, every frame layout, and bad sequences."""

import numpy as np
import pytest

from whispersign_jax.data.prepare import read_format, split_by_recording
from whispersign_jax.data.prepare.mp_data import LAYOUTS, read_mp_data


@pytest.fixture(scope="module")
def fixture_result(request):
    from conftest import FIXTURES

    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent (a fresh clone has no ../shared)")
    return read_format("mp_data", FIXTURES / "mp_data_asl")


def test_reads_the_real_fixture_at_60_fps(fixture_result):
    from conftest import FIXTURES

    assert fixture_result.failures == []
    samples = fixture_result.samples
    assert len(samples) == 320
    assert len({s.glosses for s in samples}) == 16
    assert len({s.recording for s in samples}) == 320  # one sequence = one recording
    # 20 frames 1/30 s apart span 19/30 s: 39 frames at 60 FPS.
    assert {s.keypoints.shape for s in samples} == {(39, 42, 7)}
    hello = next(s for s in samples if s.glosses == ("hello",))
    frame = np.load(FIXTURES / "mp_data_asl/MP_Data/hello/0/12.npy")  # input frame 12 = output 24
    right = hello.keypoints[24, 21:]
    np.testing.assert_allclose(right[:, :3], frame[195:].reshape(21, 3), atol=1e-6)
    assert frame[195:].any() and (right[:, 6] == 1.0).all()
    # Frames the webcam never had a left hand in are missing (confidence 0, all zero).
    missing = hello.keypoints[:, :21, 6] == 0
    assert np.all(hello.keypoints[:, :21][missing] == 0)


def test_fixture_splits_keep_every_gloss_in_every_split(fixture_result):
    splits = split_by_recording(fixture_result.samples, seed=0)
    assert {name: len(members) for name, members in splits.items()} == {
        "train": 256,
        "val": 32,
        "test": 32,
    }
    assert len({s.glosses for s in splits["test"]}) == 16


def write_sequence(root, gloss, sequence, frames):
    folder = root / gloss / str(sequence)
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        np.save(folder / f"{index}.npy", frame)
    return folder


@pytest.mark.parametrize("values", sorted(LAYOUTS))
def test_detects_the_frame_layout_from_its_length(tmp_path, values):
    frames = np.zeros((6, values))
    left, right = LAYOUTS[values], LAYOUTS[values] + 63
    frames[:, left : left + 63] = np.linspace(0.1, 0.2, 63)
    frames[:, right : right + 63] = np.linspace(0.6, 0.7, 63)
    frames[3, right : right + 63] = 0  # right hand lost in one frame
    write_sequence(tmp_path / "MP_Data", "hi", 0, frames)
    (sample,) = read_mp_data(tmp_path, fps=60.0).samples  # 60 FPS input: frames kept 1:1
    assert sample.keypoints.shape == (6, 42, 7)
    np.testing.assert_allclose(sample.keypoints[0, :21, :3].ravel(), np.linspace(0.1, 0.2, 63))
    np.testing.assert_allclose(sample.keypoints[0, 21:, :3].ravel(), np.linspace(0.6, 0.7, 63))
    assert sample.keypoints[:, 21, 6].tolist() == [1, 1, 1, 0, 1, 1]
    mirrored = read_mp_data(tmp_path, fps=60.0, mirrored=True).samples[0]
    np.testing.assert_array_equal(mirrored.keypoints[:, :21], sample.keypoints[:, 21:])


def test_frames_sort_numerically_and_fps_is_configurable(tmp_path):
    frames = np.zeros((12, 126))
    frames[:, :63] = np.arange(12)[:, None] * 0.01 + 0.3  # x grows 0.01 per frame
    write_sequence(tmp_path, "g", 0, frames)  # 0.npy .. 11.npy: "10" sorts before "2" as text
    (at_30,) = read_mp_data(tmp_path).samples
    assert at_30.keypoints.shape[0] == 23  # 11/30 s at 60 FPS
    np.testing.assert_allclose(at_30.keypoints[::2, 0, 0], frames[:, 0], atol=1e-6)
    np.testing.assert_allclose(at_30.keypoints[5, 0, 3], 0.01 * 30, rtol=1e-4)  # vx per second
    (at_15,) = read_mp_data(tmp_path, fps=15.0).samples
    assert at_15.keypoints.shape[0] == 45
    (at_5,) = read_mp_data(tmp_path, fps=5.0).samples  # frames 0.2 s apart still interpolate
    assert at_5.keypoints.shape[0] == 133
    assert (at_5.keypoints[:, 0, 6] == 1).all()
    np.testing.assert_allclose(at_5.keypoints[6, 0, 0], 0.305, atol=1e-6)  # halfway


def test_bad_sequences_are_reported_and_skipped(tmp_path):
    good = np.full((5, 258), 0.5)
    write_sequence(tmp_path, "ok", 0, good)
    nan = good.copy()
    nan[2, 140] = np.nan
    write_sequence(tmp_path, "ok", 1, nan)
    write_sequence(tmp_path, "ok", 2, np.full((5, 100), 0.5))  # no known layout
    write_sequence(tmp_path, "ok", 3, good[:1])  # one frame
    broken = write_sequence(tmp_path, "ok", 4, good)
    (broken / "3.npy").write_bytes(b"not a numpy file")
    (tmp_path / "ok" / "5").mkdir()  # empty sequence
    named = write_sequence(tmp_path, "ok", 6, good)
    (named / "last.npy").write_bytes(b"")
    result = read_mp_data(tmp_path)
    assert [s.recording for s in result.samples] == ["mp_data:ok/0"]
    reasons = dict(result.failures)
    assert len(reasons) == 6
    assert (
        "NaN or infinite values in 1 of 5 frames, first at frame 2"
        in reasons[str(tmp_path / "ok" / "1")]
    )
    assert "one of [126, 258, 1662] values" in reasons[str(tmp_path / "ok" / "2")]
    assert "1 frame(s); a clip needs at least 2 frames" in reasons[str(tmp_path / "ok" / "3")]
    assert "3.npy: not a .npy file (no NumPy header)" in reasons[str(tmp_path / "ok" / "4")]
    assert "no frame files" in reasons[str(tmp_path / "ok" / "5")]
    assert "must be numbered" in reasons[str(tmp_path / "ok" / "6")]
    assert result.summary().startswith("1 ok, 6 skipped")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        read_mp_data(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no gloss folders"):
        read_mp_data(tmp_path)
