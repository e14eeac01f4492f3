"""scripts/benchmark.py and its suites (scripts/benchmarks/): the published-peak table, the
settings the suites read from configs/, and a train run small enough for a CPU."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, load_script

benchmark = load_script("benchmark")  # puts scripts/ on sys.path: its suites import
peaks = benchmark.peaks


@pytest.mark.parametrize(
    ("device_kind", "chip", "float32_tflops", "bfloat16_tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM", 494.7, 989.4),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe", 378.0, 756.5),
        ("NVIDIA H100 NVL", "NVIDIA H100 NVL", 417.5, 835.5),
        ("NVIDIA H200", "NVIDIA H200 SXM", 494.5, 989.5),
        ("NVIDIA H200 NVL", "NVIDIA H200 NVL", 417.5, 835.5),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100", 156.0, 312.0),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100", 156.0, 312.0),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100", 156.0, 312.0),
        ("NVIDIA L4", "NVIDIA L4", 60.0, 121.0),
        ("TPU v4", "TPU v4", 275.0, 275.0),
        ("TPU v5 lite", "TPU v5e", 197.0, 197.0),
        ("TPU v5", "TPU v5p", 459.0, 459.0),
        ("TPU v5p", "TPU v5p", 459.0, 459.0),
        ("TPU v6 lite", "TPU v6e", 918.0, 918.0),
    ],
)
def test_published_peak_of_known_chips(device_kind, chip, float32_tflops, bfloat16_tflops):
    peak = peaks.published_peak(device_kind)
    assert (peak.chip, peak.float32_tflops, peak.bfloat16_tflops) == (
        chip,
        float32_tflops,
        bfloat16_tflops,
    )
    assert peak.float32_means == ("TF32" if chip.startswith("NVIDIA") else "one bfloat16 pass")


@pytest.mark.parametrize(
    "device_kind", ["cpu", "NVIDIA L40S", "NVIDIA GH200 480GB", "TPU v4 lite", "TPU7x", ""]
)
def test_unknown_chips_have_no_published_peak(device_kind):
    assert peaks.published_peak(device_kind) is None


def test_train_smoke_on_cpu_reports_compile_and_step_separately(tmp_path):
    """One tiny program, through the accelerator path (compiled in a worker pool)."""
    command = [
        sys.executable, str(REPO / "scripts" / "benchmark.py"), "--json", "--only=train",
        "--sizes=tiny", "--batches=2", "--dtypes=float32", "--frames=32", "--steps=1",
        "--matmul_size=128", "--compile_workers=2", f"--compile_cache={tmp_path / 'xla'}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.splitlines()[-1])
    assert results["platform"] == "cpu" and results["peak.matmul_size"] == 128
    assert results["peak.published.chip"] is None
    assert results["train.tiny.b2.mfu_published"] is None  # no guess for a CPU
    assert results["train.tiny.b2.compile_s"] > 0 and results["train.tiny.b2.step_ms"] > 0
    assert results["train.compile_wall_s"] >= results["train.tiny.b2.compile_s"]
    assert 0 < results["train.tiny.b2.mfu"] < 1
    assert results["compile_cache"] == str(tmp_path / "xla")
    assert "train.tiny.b2: compiled in" in result.stderr  # progress as it goes
    assert "train.tiny.b2: step" in result.stderr


def test_the_script_and_its_inference_part_import_no_tensorflow():
    """The accelerator image has no TensorFlow: the runner (which imports every suite) and a
    recogniser of the infer suite load none."""
    script = str(REPO / "scripts" / "benchmark.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('bench', {script!r})\n"
        "bench = importlib.util.module_from_spec(spec)\n"
        "sys.modules['bench'] = bench\n"
        "spec.loader.exec_module(bench)\n"
        "from benchmarks import infer\n"
        "infer.recognizer('tiny', 'ctc_greedy', 'float32')\n"
        "print('tensorflow' in sys.modules, 'clu' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False", "False"]


def test_suites_take_model_stage_and_shapes_from_configs_and_keypoints():
    """The model is configs/default.py's (today Whisper's preset), the step stage 2's of
    configs/stage2.py, windows 3 s of the default joint set; the analytic FLOPs of a base step
    are what they were when the script restated these numbers."""
    from benchmarks import common, models, train

    from whispersign_jax.inference.streaming import DEFAULT_WINDOW_S
    from whispersign_jax.keypoints import FPS, NUM_FEATURES, NUM_JOINTS
    from whispersign_jax.model import ModelConfig

    for size in ("tiny", "base", "small"):
        for dtype in ("float32", "bfloat16"):
            expected = ModelConfig.preset(size, models.NUM_GLOSSES, dtype=dtype)
            assert models.model_config(size, dtype) == expected
    config, stage = common.stage_config(train.STAGE)
    assert config.run_stages == ("stage2",)
    schedule = train.train_setup("tiny")[0].schedule  # the stage's warm-up, then its peak
    assert float(schedule(stage.warmup_steps)) == pytest.approx(stage.lr)
    assert common.WINDOW_FRAMES == round(DEFAULT_WINDOW_S * FPS) == 180
    window = models.random_window()
    assert window.shape == (180, NUM_JOINTS, NUM_FEATURES)
    assert train.batch_shapes(2, 32, NUM_JOINTS)["keypoints"].shape == (2, 32, 42, 7)
    base = ModelConfig.preset("base", models.NUM_GLOSSES)
    flops = train.train_step_flops(base, 16, 180, train.LABEL_LENGTH + 1)
    assert flops == 112467640320.0
    assert benchmark.parse_args([]).frames == 180
