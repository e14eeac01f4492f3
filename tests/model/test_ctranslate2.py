"""CTranslate2 ``model.bin`` reader on small files written here, and its Whisper name mapping.

``write_model_bin`` is this test's own writer of the layout described in
``whispersign_jax/model/ctranslate2.py``; ``whisper_to_ctranslate2`` renames Hugging Face
Whisper tensors the way CTranslate2's converter does (fused q/k/v with a zero key bias).
"""

from __future__ import annotations

import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from conftest import frameworks_imported_by

from whispersign_jax.model import ctranslate2
from whispersign_jax.model.ctranslate2 import CorruptModelError, read_model_bin

TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def write_model_bin(
    file: Path,
    variables: dict[str, np.ndarray],
    aliases: dict[str, str] | None = None,
    spec: str = "WhisperSpec",
    version: int = 6,
) -> Path:
    """A CTranslate2 ``model.bin``; versions below 4 store item sizes, below 3 no aliases."""

    def string(text: str) -> bytes:
        encoded = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(encoded)) + encoded

    parts = [struct.pack("<I", version)]
    if version >= 2:
        parts += [string(spec), struct.pack("<I", 3)]  # spec revision
    parts.append(struct.pack("<I", len(variables)))
    for name, value in sorted(variables.items()):
        value = np.asarray(value)
        parts += [string(name), struct.pack(f"<B{value.ndim}I", value.ndim, *value.shape)]
        if version >= 4:
            parts.append(struct.pack("<BI", TYPE_IDS[value.dtype.name], value.nbytes))
        else:
            parts.append(struct.pack("<BI", value.itemsize, value.size))
        parts.append(value.astype(value.dtype.newbyteorder("<")).tobytes())
    if version >= 3:
        parts.append(struct.pack("<I", len(aliases or {})))
        for alias, target in (aliases or {}).items():
            parts += [string(alias), string(target)]
    file.write_bytes(b"".join(parts))
    return file


def whisper_to_ctranslate2(tensors: dict[str, np.ndarray], num_heads: int) -> dict[str, np.ndarray]:
    """Hugging Face Whisper tensors (no ``model.`` prefix) -> CTranslate2 WhisperSpec variables."""
    variables = {
        "encoder/num_heads": np.int16(num_heads),
        "decoder/num_heads": np.int16(num_heads),
        "decoder/activation": np.int8(3),  # GELU
        "decoder/pre_norm": np.int8(1),
        "decoder/scale_embeddings": np.int8(0),
    }

    def linear(target: str, sources: list[str]) -> None:
        weights = [tensors[f"{source}.weight"] for source in sources]
        biases = [
            tensors.get(f"{source}.bias", np.zeros(len(weight), np.float32))
            for source, weight in zip(sources, weights, strict=True)
        ]
        variables[f"{target}/weight"] = np.concatenate(weights)
        variables[f"{target}/bias"] = np.concatenate(biases)

    def norm(target: str, source: str) -> None:
        variables[f"{target}/gamma"] = tensors[f"{source}.weight"]
        variables[f"{target}/beta"] = tensors[f"{source}.bias"]

    for part in ("encoder", "decoder"):
        layers = {int(name.split(".")[2]) for name in tensors if name.startswith(f"{part}.layers.")}
        for i in sorted(layers):
            hf, ct2 = f"{part}.layers.{i}", f"{part}/layer_{i}"
            qkv = [f"{hf}.self_attn.{p}_proj" for p in "qkv"]
            linear(f"{ct2}/self_attention/linear_0", qkv)
            linear(f"{ct2}/self_attention/linear_1", [f"{hf}.self_attn.out_proj"])
            norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
            if part == "decoder":
                linear(f"{ct2}/attention/linear_0", [f"{hf}.encoder_attn.q_proj"])
                kv = [f"{hf}.encoder_attn.{p}_proj" for p in "kv"]
                linear(f"{ct2}/attention/linear_1", kv)
                linear(f"{ct2}/attention/linear_2", [f"{hf}.encoder_attn.out_proj"])
                norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
            linear(f"{ct2}/ffn/linear_0", [f"{hf}.fc1"])
            linear(f"{ct2}/ffn/linear_1", [f"{hf}.fc2"])
            norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
        norm(f"{part}/layer_norm", f"{part}.layer_norm")
        positions = tensors[f"{part}.embed_positions.weight"]
        variables[f"{part}/position_encodings/encodings"] = positions
    for conv in ("conv1", "conv2"):
        variables[f"encoder/{conv}/weight"] = tensors[f"encoder.{conv}.weight"]
        variables[f"encoder/{conv}/bias"] = tensors[f"encoder.{conv}.bias"]
    variables["decoder/embeddings/weight"] = tensors["decoder.embed_tokens.weight"]
    return variables


def quantize_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CTranslate2's int8 scheme: one scale per row, ``rint(weight * 127 / max|row|)``."""
    scale = (127.0 / np.abs(weight).max(axis=1)).astype(np.float32)
    return np.rint(weight * scale[:, None]).astype(np.int8), scale


def test_reads_each_dtype_scales_and_aliases(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(6, 5)).astype(np.float32)
    quantized, scale = quantize_int8(weight)
    int16_scale = np.float32(2**10 / np.abs(weight).max())
    variables = {
        "float32/weight": weight,
        "float16/weight": weight.astype(np.float16),
        "bfloat16/weight": weight.astype(ml_dtypes.bfloat16),
        "int8/weight": quantized,
        "int8/weight_scale": scale,
        "int16/weight": np.rint(weight * int16_scale).astype(np.int16),
        "int16/weight_scale": int16_scale,
        "encoder/num_heads": np.int16(6),
        "decoder/activation": np.int8(3),
    }
    file = write_model_bin(tmp_path / "model.bin", variables, {"tied/weight": "int8/weight"})
    model = read_model_bin(file)
    assert (model.binary_version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    assert set(model.variables) == {*variables, "tied/weight", "tied/weight_scale"}

    np.testing.assert_array_equal(model.array("float32/weight"), weight)
    float16 = model.array("float16/weight")
    assert float16.dtype == np.float32
    np.testing.assert_array_equal(float16, weight.astype(np.float16).astype(np.float32))
    bfloat16 = weight.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(model.array("bfloat16/weight"), bfloat16)
    step = np.abs(weight).max(axis=1, keepdims=True) / 127  # one int8 step per row
    assert (np.abs(model.array("int8/weight") - weight) <= step / 2 + 1e-7).all()
    assert (np.abs(model.array("int16/weight") - weight) <= 0.5 / int16_scale + 1e-7).all()
    np.testing.assert_array_equal(model.array("tied/weight"), model.array("int8/weight"))
    assert model.array("encoder/num_heads") == 6 and model.array("decoder/activation") == 3


@pytest.mark.parametrize("version", [1, 3])
def test_older_binary_versions(tmp_path, version):
    """Versions 1-3 give item sizes instead of dtype ids; version 1 has no spec name."""
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    variables = {"a/weight": (weight * 2).astype(np.int16), "a/weight_scale": np.float32(2)}
    variables["b"] = np.int16([4, -2])
    model = read_model_bin(write_model_bin(tmp_path / "model.bin", variables, version=version))
    assert (model.binary_version, model.spec) == (version, "WhisperSpec" if version > 1 else "")
    np.testing.assert_array_equal(model.array("a/weight"), weight)
    np.testing.assert_array_equal(model.array("b"), [4, -2])  # not a weight: a setting
    assert model.variables["b"].dtype == "int16"


def test_unsupported_values_are_refused_by_name(tmp_path):
    variables = {
        "unscaled/weight": np.ones((2, 2), np.int8),
        "awq/weight": np.ones((2, 2), np.int32),
        "awq/weight_scale": np.ones(2, np.float32),
    }
    model = read_model_bin(write_model_bin(tmp_path / "model.bin", variables))
    with pytest.raises(ValueError, match=r"unscaled/weight is int8 without a quantization scale"):
        model.array("unscaled/weight")
    with pytest.raises(ValueError, match=r"awq/weight is int32 quantized; this reader supports"):
        model.array("awq/weight")

    newer = write_model_bin(tmp_path / "newer.bin", {}, version=7)
    with pytest.raises(CorruptModelError, match="binary version 7, but CTranslate2"):
        read_model_bin(newer)
    other = read_model_bin(write_model_bin(tmp_path / "other.bin", {}, spec="TransformerSpec"))
    with pytest.raises(ValueError, match=r"CTranslate2 'TransformerSpec' model, not 'WhisperSpec'"):
        ctranslate2.whisper_config(other)


def test_truncated_corrupt_or_random_files_name_the_file(tmp_path):
    variables = {"a/weight": np.ones((4, 4), np.float16), "a/bias": np.ones(4, np.float16)}
    complete = write_model_bin(tmp_path / "model.bin", variables, {"b/weight": "a/weight"})
    data = complete.read_bytes()
    assert read_model_bin(complete).variables["b/weight"] is not None
    rng = np.random.default_rng(0)
    broken = {
        "empty": b"",
        "in the header": data[:10],
        "in the values": data[:60],
        "before the aliases": data[:-20],
        "random bytes": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "random after the version": data[:4] + rng.integers(0, 256, 200, np.uint8).tobytes(),
    }
    for what, content in broken.items():
        file = tmp_path / f"{what}.bin"
        file.write_bytes(content)
        with pytest.raises(CorruptModelError, match="truncated or corrupt") as error:
            read_model_bin(file)
        assert str(file) in str(error.value), what
        assert "re-download" in str(error.value)


def test_whisper_names_sizes_and_fused_projections(tmp_path):
    d, ffn, heads = 8, 16, 2
    rng = np.random.default_rng(1)
    hf = {}
    for part, layers in (("encoder", 2), ("decoder", 1)):
        for i in range(layers):
            for module in ["self_attn"] + (["encoder_attn"] if part == "decoder" else []):
                for proj in ("q", "k", "v", "out"):
                    hf[f"{part}.layers.{i}.{module}.{proj}_proj.weight"] = rng.normal(size=(d, d))
                    if proj != "k":
                        hf[f"{part}.layers.{i}.{module}.{proj}_proj.bias"] = rng.normal(size=d)
                hf[f"{part}.layers.{i}.{module}_layer_norm.weight"] = rng.normal(size=d)
                hf[f"{part}.layers.{i}.{module}_layer_norm.bias"] = rng.normal(size=d)
            hf[f"{part}.layers.{i}.fc1.weight"] = rng.normal(size=(ffn, d))
            hf[f"{part}.layers.{i}.fc1.bias"] = rng.normal(size=ffn)
            hf[f"{part}.layers.{i}.fc2.weight"] = rng.normal(size=(d, ffn))
            hf[f"{part}.layers.{i}.fc2.bias"] = rng.normal(size=d)
            hf[f"{part}.layers.{i}.final_layer_norm.weight"] = rng.normal(size=d)
            hf[f"{part}.layers.{i}.final_layer_norm.bias"] = rng.normal(size=d)
        hf[f"{part}.layer_norm.weight"] = rng.normal(size=d)
        hf[f"{part}.layer_norm.bias"] = rng.normal(size=d)
    hf["encoder.embed_positions.weight"] = rng.normal(size=(30, d))
    hf["decoder.embed_positions.weight"] = rng.normal(size=(12, d))
    hf["encoder.conv1.weight"], hf["encoder.conv1.bias"] = rng.normal(size=(d, 5, 3)), np.ones(d)
    hf["encoder.conv2.weight"], hf["encoder.conv2.bias"] = rng.normal(size=(d, d, 3)), np.ones(d)
    hf["decoder.embed_tokens.weight"] = rng.normal(size=(20, d))
    hf = {name: value.astype(np.float32) for name, value in hf.items()}
    variables = whisper_to_ctranslate2(hf, heads)
    variables["encoder/extra/weight"] = np.ones(3, np.float32)  # no Hugging Face counterpart
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}  # tied, as converted
    model = read_model_bin(write_model_bin(tmp_path / "model.bin", variables, aliases))

    config = ctranslate2.whisper_config(model)
    assert config == {
        "model_type": "whisper",
        "d_model": d,
        "encoder_layers": 2,
        "decoder_layers": 1,
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "encoder_ffn_dim": ffn,
        "decoder_ffn_dim": ffn,
        "max_source_positions": 30,
        "max_target_positions": 12,
        "num_mel_bins": 5,
        "vocab_size": 20,
        "activation_function": "gelu",
        "scale_embedding": False,
    }
    names = ctranslate2.hugging_face_names(model)
    assert set(names) == {*hf, "encoder/extra/weight"}  # no key bias, no tied projection
    tensors = ctranslate2.whisper_tensors(model, names)
    for name, value in hf.items():
        np.testing.assert_array_equal(tensors[name], value, err_msg=name)


def test_reader_imports_only_numpy():
    assert frameworks_imported_by("whispersign_jax.model.ctranslate2") == []
