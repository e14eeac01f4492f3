"""Mesh, parameter and batch shardings, checkpoints across device counts, a sharded train run.

Each scenario runs in a fresh Python process whose CPU platform is split into 8 (or 1)
devices with ``XLA_FLAGS``, set before JAX starts; this process keeps its own devices.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def run_python(code: str, devices: int, timeout: float = 120) -> dict:
    """Runs ``code`` with ``devices`` CPU devices; returns the JSON it prints last."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")])
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, f"subprocess failed:\n{completed.stderr[-4000:]}"
    return json.loads(completed.stdout.strip().splitlines()[-1])


def checkpoint_trees() -> tuple[dict, dict]:
    """The model and train trees saved and restored below, as float32 NumPy arrays."""
    rng = np.random.default_rng(0)
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
    model_vars = {
        "params": {
            "dense": {"kernel": normal(128, 256), "bias": normal(256)},
            "embed": normal(512, 64),
        },
        "batch_stats": {"mean": normal(32)},
    }
    train_vars = {"step": np.int32(7), "mu": normal(128, 256)}
    return model_vars, train_vars


EIGHT_DEVICES = """
    import json
    import jax, jax.numpy as jnp, numpy as np
    from whispersign_jax.training import sharding
    from whispersign_jax.runs.checkpointing import StageCheckpoints
    from test_sharding import checkpoint_trees

    out = {"devices": jax.device_count()}
    mesh = sharding.make_mesh(data=4, fsdp=2)
    out["mesh"] = dict(mesh.shape)

    def spec(shape):
        return [axis for axis in sharding.param_sharding(mesh, shape).spec]

    shapes = [(128, 256), (512, 64), (128, 128), (3, 8192), (131, 127), (256,), (64, 64)]
    out["specs"] = {str(shape): spec(shape) for shape in shapes}
    kernel_sharding = sharding.param_sharding(mesh, (128, 256))
    kernel = jax.device_put(np.ones((128, 256), np.float32), kernel_sharding)
    out["kernel_shards"] = sorted({str(s.data.shape) for s in kernel.addressable_shards})
    out["kernel_distinct_blocks"] = len({str(s.index) for s in kernel.addressable_shards})

    rows = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    batch = sharding.global_batch(
        {"x": rows, "mask": np.arange(8) % 2 == 0}, sharding.batch_sharding(mesh))
    out["batch_shape"] = list(batch["x"].shape)
    out["rows_per_device"] = sorted(
        [int(s.data.shape[0]) for s in batch["x"].addressable_shards])
    out["rows_seen"] = sorted(
        int(np.asarray(s.data)[0, 0]) // 3 for s in batch["x"].addressable_shards)
    out["batch_devices"] = len({s.device for s in batch["x"].addressable_shards})
    try:
        sharding.global_batch({"x": rows[:6]}, sharding.batch_sharding(mesh))
        out["batch6_error"] = None
    except ValueError as error:
        out["batch6_error"] = str(error)

    rng = np.random.default_rng(1)
    params = {"w": rng.normal(size=(3, 8192)).astype(np.float32),
              "b": rng.normal(size=(8192,)).astype(np.float32)}
    param_shardings = sharding.state_sharding(mesh, params)
    out["w_spec"] = list(param_shardings["w"].spec)

    def apply(params, batch):
        hidden = jnp.tanh(batch["x"] @ params["w"] + params["b"])  # (batch, 8192)
        return hidden, jnp.mean(hidden ** 2)

    sharded = jax.jit(
        apply,
        in_shardings=(param_shardings, sharding.batch_sharding(mesh)),
        out_shardings=(sharding.batch_sharding(mesh), sharding.replicated(mesh)),
    )
    hidden, loss = sharded(jax.device_put(params, param_shardings), {"x": batch["x"]})
    one = jax.devices()[0]
    hidden1, loss1 = jax.jit(apply)(jax.device_put(params, one), {"x": jax.device_put(rows, one)})
    out["hidden_sharding"] = list(hidden.sharding.spec)
    out["hidden_max_diff"] = float(np.max(np.abs(np.asarray(hidden) - np.asarray(hidden1))))
    out["loss"] = [float(loss), float(loss1)]

    errors = {}
    for data, fsdp in [(3, 2), (8, 2), (-1, 3)]:
        try:
            sharding.make_mesh(data=data, fsdp=fsdp)
            errors[f"{data}x{fsdp}"] = None
        except ValueError as error:
            errors[f"{data}x{fsdp}"] = str(error)
    out["mesh_errors"] = errors
    out["default_mesh"] = dict(sharding.make_mesh().shape)

    model_vars, train_vars = checkpoint_trees()
    model_vars = jax.device_put(model_vars, sharding.state_sharding(mesh, model_vars))
    train_vars = jax.device_put(train_vars, sharding.state_sharding(mesh, train_vars))
    saved_kernel = model_vars["params"]["dense"]["kernel"]
    out["saved_kernel_spec"] = list(saved_kernel.sharding.spec)
    checkpoints = StageCheckpoints(CHECKPOINT_DIR)
    checkpoints.save_best(7, model_vars, train_vars, {"stage": "stage2", "metrics": {"wer": 0.25}})
    checkpoints.wait()
    checkpoints.close()
    print(json.dumps(out))
"""

ONE_DEVICE_RESTORE = """
    import json
    import jax, jax.numpy as jnp, numpy as np
    from whispersign_jax.runs import checkpointing
    from whispersign_jax.runs.checkpointing import StageCheckpoints
    from test_sharding import checkpoint_trees

    model_np, train_np = checkpoint_trees()
    zeros = lambda tree: jax.tree.map(lambda x: jnp.zeros_like(jnp.asarray(x)), tree)
    model_target = checkpointing.abstract_like(zeros(model_np))
    train_target = checkpointing.abstract_like(zeros(train_np))
    checkpoints = StageCheckpoints(CHECKPOINT_DIR)
    model_vars, train_vars, metadata = StageCheckpoints.restore(
        checkpoints.best, model_target, train_target)
    checkpoints.close()
    same = jax.tree.map(lambda a, b: bool(np.array_equal(np.asarray(a), b)), model_vars, model_np)
    same_train = jax.tree.map(
        lambda a, b: bool(np.array_equal(np.asarray(a), b)), train_vars, train_np)
    print(json.dumps({
        "devices": jax.device_count(),
        "same": all(jax.tree.leaves(same)) and all(jax.tree.leaves(same_train)),
        "leaves": len(jax.tree.leaves(same)) + len(jax.tree.leaves(same_train)),
        "kernel_devices": len(model_vars["params"]["dense"]["kernel"].sharding.device_set),
        "kernel_sum": float(np.asarray(model_vars["params"]["dense"]["kernel"]).sum()),
        "step": int(train_vars["step"]),
        "metadata": metadata,
    }))
"""


@pytest.fixture(scope="module")
def eight_devices(tmp_path_factory):
    """One 8-device run of the mesh, batch, jit and checkpoint-save scenario."""
    checkpoint_dir = tmp_path_factory.mktemp("sharded") / "stage2"
    code = f"CHECKPOINT_DIR = {str(checkpoint_dir)!r}\n" + textwrap.dedent(EIGHT_DEVICES)
    return run_python(code, devices=8), checkpoint_dir


def test_mesh_has_data_and_fsdp_axes(eight_devices):
    out, _ = eight_devices
    assert out["devices"] == 8
    assert out["mesh"] == {"data": 4, "fsdp": 2}
    assert out["default_mesh"] == {"data": 8, "fsdp": 1}


def test_make_mesh_rejects_a_device_count_mismatch(eight_devices):
    errors = eight_devices[0]["mesh_errors"]
    assert "mesh.data=3 x mesh.fsdp=2 must equal the 8 devices" in errors["3x2"]
    assert "mesh.data=-1" in errors["3x2"]  # tells the user what to do
    assert "must equal the 8 devices" in errors["8x2"]
    assert "mesh.fsdp=3 does not divide the 8 devices" in errors["-1x3"]


def test_param_sharding_splits_the_largest_divisible_axis_over_fsdp(eight_devices):
    out, _ = eight_devices
    specs = out["specs"]
    assert specs["(128, 256)"] == [None, "fsdp"]  # the larger axis
    assert specs["(512, 64)"] == ["fsdp", None]
    assert specs["(128, 128)"] == ["fsdp", None]  # 2**14 elements: just large enough
    assert specs["(3, 8192)"] == [None, "fsdp"]
    assert specs["(131, 127)"] == []  # large, but no axis divisible by 2: replicated
    assert specs["(256,)"] == []  # small arrays (biases, norms) stay replicated
    assert specs["(64, 64)"] == []
    # Each device holds half the kernel; the 4 data replicas share the same two halves.
    assert out["kernel_shards"] == ["(128, 128)"]
    assert out["kernel_distinct_blocks"] == 2


def test_global_batch_puts_one_row_on_each_device(eight_devices):
    out, _ = eight_devices
    assert out["batch_shape"] == [8, 3]
    assert out["batch_devices"] == 8
    assert out["rows_per_device"] == [1] * 8
    assert out["rows_seen"] == list(range(8))  # every row on exactly one device


def test_global_batch_refuses_a_batch_not_divisible_by_the_devices(eight_devices):
    message = eight_devices[0]["batch6_error"]
    assert message is not None
    assert "the batch size=6:" in message and "multiples of the 8 devices" in message
    assert "set it to a multiple of 8." in message


def test_sharded_jit_matches_one_device(eight_devices):
    out, _ = eight_devices
    assert out["w_spec"] == [None, "fsdp"]
    assert out["hidden_sharding"] == [["data", "fsdp"]]
    assert out["hidden_max_diff"] < 1e-5
    sharded_loss, single_loss = out["loss"]
    assert sharded_loss == pytest.approx(single_loss, rel=1e-5)
    assert 0.1 < single_loss < 1.0  # tanh of unit-scale inputs: a real number, not 0


def test_checkpoint_saved_on_8_devices_restores_on_1(eight_devices):
    out, checkpoint_dir = eight_devices
    assert out["saved_kernel_spec"] == [None, "fsdp"]  # the save really was sharded
    code = f"CHECKPOINT_DIR = {str(checkpoint_dir)!r}\n" + textwrap.dedent(ONE_DEVICE_RESTORE)
    restored = run_python(code, devices=1)
    model_np, _ = checkpoint_trees()
    assert restored["devices"] == 1
    assert restored["kernel_devices"] == 1
    assert restored["leaves"] == 6
    assert restored["same"]
    assert restored["kernel_sum"] == pytest.approx(
        float(model_np["params"]["dense"]["kernel"].sum()), rel=1e-5
    )
    assert restored["step"] == 7
    fingerprints = restored["metadata"].pop("fingerprints")  # checked on 1 device: they match
    assert set(fingerprints) == {"model", "train"} and len(fingerprints["model"]) == 4
    assert restored["metadata"] == {"stage": "stage2", "metrics": {"wer": 0.25}}


TRAIN_ON_MESH = """
    import json
    import jax
    from conftest import tiny_training_config
    from whispersign_jax.training import train
    from whispersign_jax.runs.checkpointing import StageCheckpoints

    config = tiny_training_config()
    config.mesh.data, config.mesh.fsdp = 4, 2
    config.run_stages = ("stage2",)
    config.stages.stage2.epochs = 1
    results = train.train_and_evaluate(config, WORKDIR)
    checkpoints = StageCheckpoints(WORKDIR + "/stage2")
    best = StageCheckpoints.record(checkpoints.best).to_json()
    latest = StageCheckpoints.record(checkpoints.latest).to_json()
    best_step = checkpoints.best.latest_step()
    checkpoints.close()
    print(json.dumps({"devices": jax.device_count(), "results": results,
                      "best_step": best_step, "best": best,
                      "latest_step": latest["step"], "total_steps": latest["total_steps"]}))
"""


def test_train_stage2_on_a_4x2_mesh_writes_a_best_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    code = f"WORKDIR = {str(workdir)!r}\n" + textwrap.dedent(TRAIN_ON_MESH)
    out = run_python(code, devices=8, timeout=240)
    assert out["devices"] == 8
    assert list(out["results"]) == ["stage2"]
    val = out["results"]["stage2"]
    assert 0.0 <= val["accuracy"] <= 1.0 and val["wer"] >= 0.0
    assert val["samples"] == 16  # 1 val signer x 4 glosses x 4 samples
    assert out["total_steps"] == 6  # 48 training samples / batch 8, one epoch
    assert out["latest_step"] == 6
    assert out["best_step"] == 6
    assert out["best"]["stage"] == "stage2"
    assert out["best"]["metrics"] == val
    assert (workdir / "stage2" / "checkpoints" / "best" / "6").is_dir()
    assert json.loads((workdir / "results.json").read_text()) == out["results"]
