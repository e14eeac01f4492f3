"""Shared test helpers: paths to the optional ../shared fixtures, scripts/ modules, tiny
training configs."""

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
SAMPLES = REPO / "data" / "samples"  # the recordings a clone has (data/samples/README.md)
SIGNING_CLIP = SAMPLES / "signing_clip.mp4"
HOLISTIC_POSE = SAMPLES / "holistic_sample.pose"
COMPILE_CACHE = pytest.StashKey[str]()  # the session's folder of compiled JAX programs


def pytest_addoption(parser):
    from numeric_paths import NUMERIC_PATHS

    parser.addoption(
        "--numeric-path",
        choices=sorted(NUMERIC_PATHS),
        help="run the suite on another numeric path of XLA (tests/numeric_paths.py): a test "
        "that fails there depends on float rounding that differs between CPU models",
    )


def pytest_configure(config):
    path = config.getoption("--numeric-path")
    if path:
        from numeric_paths import xla_flags

        if "jax" in sys.modules:
            raise pytest.UsageError("--numeric-path must be set before JAX is imported")
        os.environ["XLA_FLAGS"] = xla_flags(path, os.environ.get("XLA_FLAGS", ""))
    config.stash[COMPILE_CACHE] = enable_session_compile_cache()


def pytest_unconfigure(config):
    if COMPILE_CACHE in config.stash:
        shutil.rmtree(config.stash[COMPILE_CACHE], ignore_errors=True)


def enable_session_compile_cache() -> str:
    """Turns on JAX's persistent compilation cache in this pytest process, in a fresh folder
    kept for the session: tests that train or jit the same tiny model with the same settings
    (several in test_train.py) load its programs instead of compiling them again. The loaded
    executable is the compiled one, so no result changes. Programs that compile in under half
    a second are not kept. Subprocesses keep their own setting (config.compile_cache_dir)."""
    import jax

    directory = tempfile.mkdtemp(prefix="whispersign-test-xla-")
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return directory


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent (a fresh clone has no ../shared)")
    return FIXTURES


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    """The Python of the mediapipe 0.10.21 side environment (.venvs/mediapipe-legacy: legacy
    hands and the Tasks API, OpenCV), built once (about a minute) and reused."""
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
    """A tiny WhisperSign over-fitted to 12 continuous synthetic clips (1-3 of 4 glosses)
    until CTC and the attention decoder each give every clip's glosses a probability above
    0.9 (``tiny_model``: the margin that makes the tests below hold on any CPU); for decoder,
    recogniser, export and streaming tests. Returns a ``trained.TrainedModel`` and the clips."""
    import tiny_model

    run, clips, worst = tiny_model.train_tiny_model()
    if max(worst.values()) >= tiny_model.MAX_NLL:
        pytest.fail(
            f"the tiny test model did not converge on this CPU after {run.step} steps: the "
            f"worst clip's NLL is {worst} (needs < {tiny_model.MAX_NLL} under both heads); "
            "tests/tiny_model.py trains it"
        )
    return run, clips


def save_as_workdir(run, root, preprocessor=None, stage: str = "stage2"):
    """A TrainedModel saved as a one-stage training workdir under ``root`` (best checkpoint
    at step 200); ``preprocessor`` (default: identity) travels in its metadata."""
    import json

    import numpy as np

    from whispersign_jax.data.normalize import Preprocessor
    from whispersign_jax.runs import trained
    from whispersign_jax.runs.checkpointing import StageCheckpoints

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
