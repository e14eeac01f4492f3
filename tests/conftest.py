"""Shared test helpers: paths to the optional ../shared fixtures, scripts/ modules, tiny
training configs."""

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent (a fresh clone has no ../shared)")
    return FIXTURES


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    """The Python of the mediapipe 0.10.21 side environment (.venvs/mediapipe-legacy: legacy
    hands and the Tasks API, OpenCV), built once (about a minute) and reused."""
    if not (FIXTURES / "signing_clip.mp4").is_file():
        pytest.skip(f"{FIXTURES / 'signing_clip.mp4'} is absent (a fresh clone has no ../shared)")
    legacy_env = load_script("legacy_env")
    start = time.perf_counter()
    try:
        python = legacy_env.ensure_legacy_env(REPO / ".venvs" / "mediapipe-legacy")
    except legacy_env.LegacyEnvError as error:
        pytest.skip(f"cannot build the mediapipe 0.10.21 side environment: {error}")
    print(f"side environment ready in {time.perf_counter() - start:.1f} s")
    return python


def load_script(name: str) -> ModuleType:
    """The module of scripts/<name>.py (scripts/ is not a package), loaded once."""
    module_name = f"scripts_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


HEAVY_FRAMEWORKS = ("jax", "tensorflow", "tensorflow_datasets", "mediapipe", "torch", "flax")


def frameworks_imported_by(*modules: str) -> list[str]:
    """The heavy frameworks that importing ``modules`` loads, in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        f"import sys\nimport {', '.join(modules)}\n"
        f"print(','.join(m for m in {HEAVY_FRAMEWORKS!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [name for name in result.stdout.strip().split(",") if name]


def event_accumulator(logdir):
    """TensorBoard events of ``logdir``, read as the TensorBoard UI reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(logdir), size_guidance={"tensors": 0}).Reload()


def scalar_tags(logdir) -> list[str]:
    return event_accumulator(logdir).Tags()["tensors"]


def read_scalars(logdir, tag: str) -> list[float]:
    from tensorboard.util.tensor_util import make_ndarray

    return [float(make_ndarray(e.tensor_proto)) for e in event_accumulator(logdir).Tensors(tag)]


def tiny_training_config(**stage_epochs: int):
    """configs/demo.py:quick shrunk further: a few steps per stage, small buckets."""
    from configs import demo

    config = demo.get_config("quick")
    config.model.d_model = 32
    config.model.num_heads = 2
    config.model.ffn_dim = 64
    config.model.encoder_layers = 1
    config.model.decoder_layers = 1
    config.data.buckets = (128, 192)
    config.data.synthetic.num_glosses = 4
    config.data.synthetic.train_signers = 3
    config.data.synthetic.val_signers = 1
    config.data.synthetic.test_signers = 1
    config.data.synthetic.samples_per_gloss_per_signer = 4
    config.checkpoint_every_steps = 2
    config.log_every_steps = 1
    for name in ("stage1", "stage2", "stage3"):
        config.stages[name].batch_size = 8
        config.stages[name].epochs = stage_epochs.get(name, 1)
    return config


@pytest.fixture(scope="session")
def tiny_trained_model():
    """A tiny WhisperSign over-fitted in seconds to 16 continuous synthetic clips (1-3 of 4
    glosses), so that CTC and the attention decoder both know them; for decoder, recogniser
    and streaming tests. Returns a ``trained.TrainedModel`` and the clips."""
    STEPS = 200
    import jax
    import ml_collections
    import numpy as np
    import optax

    from whispersign_jax import losses, trained
    from whispersign_jax.data import synthetic
    from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
    from whispersign_jax.model.targets import teacher_forcing
    from whispersign_jax.vocab import Vocabulary

    data = synthetic.SyntheticConfig(
        num_glosses=4, mode="continuous", min_glosses=1, max_glosses=3, train_signers=2,
        continuous_samples_per_signer=6, seed=3,
    )  # fmt: skip
    clips = synthetic.generate_split(data, "train")
    frames, max_labels = 224, 3
    keypoints = np.zeros((len(clips), frames, 42, 7), np.float32)  # (batch, frames, 42, 7)
    frame_mask = np.zeros((len(clips), frames), bool)
    labels = np.zeros((len(clips), max_labels), np.int32)
    for row, clip in enumerate(clips):
        length = min(frames, len(clip.keypoints))
        keypoints[row, :length], frame_mask[row, :length] = clip.keypoints[:length], True
        labels[row, : len(clip.labels)] = clip.labels
    label_mask = labels > 0
    config = ModelConfig(
        num_glosses=4, d_model=32, encoder_layers=1, decoder_layers=1, num_heads=2, ffn_dim=64,
        dropout=0.0, channel_dropout=0.0,
    )  # fmt: skip
    model = WhisperSign(config)
    variables = init_variables(model, jax.random.key(0))
    optimizer = optax.adam(1e-2)
    inputs, targets, target_mask = teacher_forcing(labels, label_mask, config.num_glosses)

    def loss_fn(params, batch_stats):
        outputs, updates = model.apply(
            {"params": params, "batch_stats": batch_stats}, keypoints, frame_mask, inputs,
            train=True, mutable=["batch_stats"],
        )  # fmt: skip
        loss, _ = losses.hybrid_loss(outputs, labels, label_mask, targets, target_mask, 0.5)
        return loss, updates["batch_stats"]

    @jax.jit
    def step(params, batch_stats, opt_state):
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    params, batch_stats = variables["params"], variables["batch_stats"]
    opt_state = optimizer.init(params)
    for _ in range(STEPS):
        params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
    return trained.TrainedModel(
        model=model,
        variables={"params": params, "batch_stats": batch_stats},
        vocabulary=Vocabulary.from_names(synthetic.gloss_names(data)),
        config=ml_collections.ConfigDict({"final_loss": float(loss)}),
        stage="tiny",
        step=STEPS,
        metrics={},
    ), clips


def save_as_workdir(run, root, preprocessor=None, stage: str = "stage2"):
    """A TrainedModel saved as a one-stage training workdir under ``root`` (best checkpoint
    at step 200); ``preprocessor`` (default: identity) travels in its metadata."""
    import json

    import numpy as np

    from whispersign_jax import trained
    from whispersign_jax.checkpointing import StageCheckpoints
    from whispersign_jax.data.normalize import Preprocessor

    root.mkdir(parents=True, exist_ok=True)
    (root / trained.CONFIG_FILE).write_text(json.dumps({"run_stages": [stage]}))
    checkpoints = StageCheckpoints(root / stage)
    metadata = {
        "stage": stage,
        "step": 200,
        "model_config": run.model.config.to_dict(),
        "label_map": run.vocabulary.label_map(),
        "metrics": {"wer": 0.1},
        "preprocessing": (preprocessor or Preprocessor()).to_dict(),
    }
    checkpoints.save_best(200, run.variables, {"step": np.zeros((), np.int32)}, metadata)
    checkpoints.wait()
    checkpoints.close()
    return root
