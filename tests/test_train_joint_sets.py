"""Larger joint sets end to end: the model's input width, a train step on 95 joints, and a
hands_pose_lips dataset prepared from real signing, trained, checkpointed and recognised."""

import json

import jax
import numpy as np
import optax
import pytest
from conftest import tiny_training_config

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction.tracker import TrackerSettings
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.runs import trained
from whispersign_jax.training import losses

GLOSSES = ("hello", "no", "please", "thank-you")


def test_one_train_step_on_95_joints_changes_the_frontend():
    config = ModelConfig(num_glosses=3, d_model=32, encoder_layers=1, decoder_layers=1,
                         num_heads=2, ffn_dim=64, num_joints=95)  # fmt: skip
    model = WhisperSign(config)
    variables = init_variables(model, jax.random.key(0))
    assert variables["params"]["frontend"]["patch_in"]["kernel"].shape == (4 * 95 * 7, 32)
    rng = np.random.default_rng(0)
    keypoints = rng.normal(size=(2, 24, 95, 7)).astype(np.float32)  # (batch, frames, 95, 7)
    frame_mask = np.arange(24)[None] < np.array([[24], [17]])
    labels = np.array([[1, 2], [3, 0]], np.int32)
    label_mask = labels > 0
    inputs, targets, target_mask = teacher_forcing(labels, label_mask, config.num_glosses)

    @jax.jit
    def loss_fn(params):
        outputs, _ = model.apply(
            {**variables, "params": params}, keypoints, frame_mask, inputs, train=True,
            rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"],
        )  # fmt: skip
        return losses.hybrid_loss(outputs, labels, label_mask, targets, target_mask, 0.5)[0]

    optimizer = optax.adam(1e-3)
    loss, grads = jax.jit(jax.value_and_grad(loss_fn))(variables["params"])
    updates, _ = optimizer.update(grads, optimizer.init(variables["params"]))
    params = optax.apply_updates(variables["params"], updates)
    assert np.isfinite(float(loss)) and float(loss) > 0
    kernel = params["frontend"]["patch_in"]["kernel"]
    assert not np.allclose(kernel, variables["params"]["frontend"]["patch_in"]["kernel"])
    assert float(loss_fn(params)) < float(loss)  # one Adam step downhill
    with pytest.raises(ValueError, match="num_joints must be >= 1"):
        ModelConfig(num_glosses=3, num_joints=0)


def holistic_copy(source, target, glosses=GLOSSES):
    """The 258-value MP_Data fixture as the 1662-value layout: a face of 468 points placed
    under the pose's nose (the fixture has no face), the pose and hands as recorded."""
    offsets = np.random.default_rng(0).normal(0.0, 0.03, size=(468, 3))  # (points, xyz)
    for gloss in glosses:
        for sequence in sorted((source / gloss).iterdir()):
            (target / gloss / sequence.name).mkdir(parents=True)
            for frame_file in sequence.glob("*.npy"):
                frame = np.load(frame_file, allow_pickle=False)
                nose = frame[:3]  # pose point 0, x y z
                face = nose + np.array([0.0, 0.05, 0.0]) + offsets if nose.any() else 0 * offsets
                np.save(target / gloss / sequence.name / frame_file.name,
                        np.concatenate([frame[:132], face.ravel(), frame[132:]]))  # fmt: skip


@pytest.fixture(scope="module")
def lips_run(tmp_path_factory, fixtures_dir):
    """A tiny model trained on hands_pose_lips keypoints prepared from the fixture."""
    from whispersign_jax.data.prepare.cli import main as prepare
    from whispersign_jax.training.train import train_and_evaluate

    root = tmp_path_factory.mktemp("lips")
    holistic_copy(fixtures_dir / "mp_data_asl" / "MP_Data", root / "MP_Data")
    argv = ["--format", "mp_data", "--data_dir", str(root / "MP_Data"), "--output_dir",
            str(root / "processed"), "--joint_set", "hands_pose_lips"]  # fmt: skip
    assert prepare(argv) == 0
    config = tiny_training_config(stage1=3)
    config.data.source, config.data.dir = "processed", str(root / "processed")
    config.data.keypoints = "hands_pose_lips"
    config.data.buckets = (64,)
    config.run_stages = ("stage1",)
    config.stages.stage1.trainable = (".*",)
    config.stages.stage1.batch_size = 16
    results = train_and_evaluate(config, str(root / "run"))
    return root, results


def test_prepared_lips_dataset_trains_and_records_its_joint_set(lips_run):
    root, results = lips_run
    assert json.loads((root / "processed" / "keypoints.json").read_text()) == {
        "joint_set": "hands_pose_lips"
    }
    features = np.load(next((root / "processed" / "train" / "features").glob("*.npy")))
    assert features.shape[1:] == (95, 7) and (features[:, 55:, 6] == 1).all()
    assert results["stage1"]["samples"] > 0 and np.isfinite(results["stage1"]["loss/total"])
    run = trained.load(root / "run")
    assert run.joint_set == "hands_pose_lips" and run.model.config.num_joints == 95


def test_recognizer_takes_its_joint_set_and_refuses_another(lips_run):
    from whispersign_jax.inference.recognizer import Recognizer

    root, _ = lips_run
    recognizer = Recognizer.load(root / "run", decoder="ctc_greedy")
    clip = np.load(next((root / "processed" / "test" / "features").glob("*.npy")))
    recognition = recognizer.recognize(clip, "test.npy")
    assert all(name in GLOSSES for name in recognition.names)
    message = (
        r"^hands\.npy: hands \(42 joints\) keypoints, but the model "
        r"\(config\.data\.keypoints=hands_pose_lips\) takes hands_pose_lips \(95 joints\) "
        r"keypoints; prepare or extract them with --joint_set=hands_pose_lips$"
    )
    with pytest.raises(ValueError, match=message):
        recognizer.recognize(clip[:, : kp.NUM_JOINTS], "hands.npy")


def test_checkpoints_without_a_joint_set_mean_hands(tmp_path):
    """Older checkpoints' metadata have neither ``joint_set`` nor ``model_config.num_joints``."""
    metadata = {"model_config": {"num_glosses": 3}, "label_map": {"<blank>": 0, "a": 1},
                "stage": "s", "step": 1, "metrics": {}, "preprocessing": {
                    "normalize_hands": False, "mean": None, "std": None}}  # fmt: skip

    model = WhisperSign(ModelConfig(num_glosses=3))
    variables = jax.eval_shape(lambda: init_variables(model, jax.random.key(0)))
    zeros = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), variables)
    run = trained._trained_model(zeros, None, metadata, config=None)
    assert run.joint_set == "hands" and run.model.config.num_joints == 42


def test_a_video_is_extracted_with_the_models_joint_set(lips_run, monkeypatch, capsys):
    import types

    from whispersign_jax import recognize

    root, _ = lips_run
    clip = np.load(next((root / "processed" / "test" / "features").glob("*.npy")))
    asked = []

    def load_video(path, settings):  # no MediaPipe here
        asked.append(settings)
        return clip

    monkeypatch.setattr(recognize, "load_video", load_video)
    flags = dict(workdir=str(root / "run"), stage="", keypoints="", video="sign.mp4", camera=None,
                 decoder="ctc_greedy", beam_size=1, ctc_weight=0.5, dtype="", json=True,
                 stream=False, realtime=False, window_s=3.0, overlap=0.5, min_confidence=0.0,
                 lookahead_s=None,
                 backend="tasks", mirrored=False, hand_model="h.task", pose_model="p.task",
                 face_model="f.task")  # fmt: skip
    recognize.run_command(types.SimpleNamespace(**flags))
    assert asked == [
        TrackerSettings("hands_pose_lips", "tasks", False, "h.task", "p.task", "f.task")
    ]
    assert json.loads(capsys.readouterr().out)["frames"] == len(clip)
