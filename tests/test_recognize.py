"""The recogniser: loading from a workdir or checkpoint folder, keypoint files, the CLI."""

import json
import types

import jax
import numpy as np
import pytest
from conftest import save_as_workdir

from whispersign_jax import keypoints, recognize
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.extraction.tracker import TrackerSettings
from whispersign_jax.runs import trained


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_trained_model):
    """The tiny model saved as a one-stage training workdir."""
    return save_as_workdir(tiny_trained_model[0], tmp_path_factory.mktemp("run"))


def flags(**overrides):
    values = dict(
        workdir="", stage="", keypoints="", video="", camera=None, decoder="attention_rescoring",
        beam_size=4, ctc_weight=0.5, dtype="", json=True, stream=False, realtime=False,
        window_s=3.0, overlap=0.5, min_confidence=0.0, lookahead_s=None,
        backend="auto", mirrored=False,
        hand_model="", pose_model="", face_model="",
    )  # fmt: skip
    return types.SimpleNamespace(**{**values, **overrides})


def test_loads_a_workdir_or_any_checkpoint_folder(workdir, tiny_trained_model):
    run, _ = tiny_trained_model
    best = workdir / "stage2" / "checkpoints" / "best"
    for path in (workdir, workdir / "stage2", best, best / "200"):
        loaded = trained.load(path)
        assert loaded.vocabulary == run.vocabulary and loaded.step == 200
        assert loaded.model.config == run.model.config and loaded.preprocessor.is_identity
        leaves = zip(jax.tree.leaves(loaded.variables), jax.tree.leaves(run.variables), strict=True)
        for restored, original in leaves:
            np.testing.assert_array_equal(restored, original)


def test_bfloat16_compute_recognises_the_same_glosses(workdir, tiny_trained_model):
    """bfloat16 computation against float32 on the same checkpoint: the same glosses on every
    clip (the tiny model's margin, p > 0.9, outweighs bfloat16's rounding)."""
    _, clips = tiny_trained_model
    bfloat16 = recognize.Recognizer.load(workdir, dtype="bfloat16", beam_size=4)
    float32 = recognize.Recognizer.load(workdir, dtype="float32", beam_size=4)
    assert bfloat16.trained.model.config.dtype == "bfloat16"
    assert float32.trained.model.config.dtype == "float32"
    for clip in clips:
        assert bfloat16.recognize(clip.keypoints).ids == float32.recognize(clip.keypoints).ids


def test_missing_or_wrong_folders_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        trained.load(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="neither a training workdir"):
        trained.load(tmp_path)


def test_recognize_applies_preprocessing_and_names_glosses(tiny_trained_model):
    run, clips = tiny_trained_model
    seen = []

    class Spy(Preprocessor):
        def __call__(self, keypoints):
            seen.append(keypoints.shape)
            return keypoints

    recognizer = recognize.Recognizer(
        trained.TrainedModel(**{**run.__dict__, "preprocessor": Spy()})
    )
    recognition = recognizer.recognize(clips[2].keypoints)
    assert seen == [clips[2].keypoints.shape]
    assert recognition.ids == clips[2].labels.tolist()  # known with p > 0.9 (the fixture)
    assert recognition.names == run.vocabulary.names(recognition.ids)
    assert recognition.attention_score is not None and recognition.ctc_score is not None


def test_bad_keypoint_files_are_explained(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "shape.npy", np.zeros((10, 21, 7), np.float32))
    nan = np.zeros((10, 42, 7), np.float32)
    nan[3, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "text.npy").write_text("not an array")
    np.save(tmp_path / "zeros.npy", np.zeros((10, 42, 7), np.float32))
    far = np.zeros((10, 42, 7), np.float32)
    far[:, :21, :3], far[:, :21, 6] = 1e6, 1.0  # a present hand a million widths away
    np.save(tmp_path / "far.npy", far)
    with pytest.raises(FileNotFoundError, match="no such keypoint file"):
        keypoints.load_keypoint_file(tmp_path / "absent.npy")
    for name, message in [
        ("objects.npy", "holds Python objects, which are never loaded"),
        ("text.npy", "not a .npy file"),
        ("zeros.npy", "no hand in any of its 10 frames"),
        ("far.npy", r"\|position\| above 10"),
        ("shape.npy", r"must have shape \(frames, J, 7\), J = 42 \(hands\), 55"),
        ("nan.npy", "NaN or infinite values in 1 frame"),
    ]:
        with pytest.raises(ValueError, match=message):
            keypoints.load_keypoint_file(tmp_path / name)


def test_cli_keypoints_and_video(workdir, tiny_trained_model, tmp_path, capsys, monkeypatch):
    run, clips = tiny_trained_model
    np.save(tmp_path / "clip.npy", clips[2].keypoints)
    recognize.run_command(flags(workdir=str(workdir), keypoints=str(tmp_path / "clip.npy")))
    result = json.loads(capsys.readouterr().out)
    signed = clips[2].labels.tolist()  # known with p > 0.9 (the fixture)
    assert result["text"] == " ".join(run.vocabulary.names(signed))
    assert [g["id"] for g in result["glosses"]] == signed
    assert result["frames"] == len(clips[2].keypoints)
    assert all(g["start_s"] < g["end_s"] for g in result["glosses"])

    def fake_extract(path, settings):  # no MediaPipe here
        assert path == "sign.mp4"
        assert settings == TrackerSettings("hands", "auto", mirrored=True)
        return clips[2].keypoints

    monkeypatch.setattr(recognize, "load_video", fake_extract)
    recognize.run_command(flags(workdir=str(workdir), video="sign.mp4", mirrored=True, json=False))
    assert capsys.readouterr().out.startswith("sign.mp4: " + " ".join(result["text"].split()))
    recognize.run_command(flags(workdir=str(workdir), video="sign.mp4", mirrored=True, stream=True))
    streamed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert streamed and all(set(g) >= {"id", "name", "start_s", "end_s"} for g in streamed)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(keypoints="x.npy", video="y.mp4"), "exactly one of"),
        (dict(), "exactly one of"),
        (dict(keypoints="absent.npy"), "no such keypoint file"),
        (dict(workdir="no/such/run", keypoints="x.npy"), "does not exist"),
    ],
)
def test_cli_errors_are_one_clear_line(workdir, overrides, message):
    with pytest.raises(SystemExit, match=message):
        recognize.run_command(flags(**{"workdir": str(workdir), **overrides}))
