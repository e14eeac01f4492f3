"""Whisper weight loading: parity with transformers' Whisper layers, reports and errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util
from safetensors.numpy import load_file, save_file
from test_ctranslate2 import quantize_int8, whisper_to_ctranslate2, write_model_bin

from whispersign_jax.model import WHISPER_PRESETS, ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.decoder import WhisperDecoder
from whispersign_jax.model.encoder import WhisperEncoder
from whispersign_jax.model.layers import sinusoids
from whispersign_jax.model.pretrained import (
    load_whisper_weights,
    resolve_checkpoint,
    whisper_model_config,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 20  # Hugging Face vocabulary of the tiny model
NUM_GLOSSES = VOCAB - 4  # so that the gloss decoder has exactly VOCAB tokens
D_MODEL = 64
TINY_SIZES = {
    "d_model": D_MODEL,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
    "max_source_positions": 64,
    "max_target_positions": 32,
}
CONV_STEM = ["encoder.conv1.bias", "encoder.conv1.weight", "encoder.conv2.bias"]
CONV_STEM += ["encoder.conv2.weight"]
# Parameters this project takes from Whisper, by Flax path prefix.
WHISPER_PARTS = ("encoder/layers_", "encoder/layer_norm/", "decoder/layers_")
WHISPER_PARTS += ("decoder/layer_norm/", "decoder/embed_positions/")


def tiny_whisper_config():
    return transformers.WhisperConfig(
        vocab_size=VOCAB,
        num_mel_bins=8,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        decoder_start_token_id=3,
        suppress_tokens=None,
        begin_suppress_tokens=None,
        attn_implementation="eager",
        **TINY_SIZES,
    )


@pytest.fixture(scope="module")
def hf_model():
    """A tiny random Whisper whose LayerNorms, biases and embeddings are all non-trivial."""
    torch.manual_seed(0)
    model = transformers.WhisperModel(tiny_whisper_config()).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name != "encoder.embed_positions.weight":  # stays Whisper's sinusoids
                param.add_(0.2 * torch.randn_like(param))
    return model


@pytest.fixture(scope="module")
def checkpoints(hf_model, tmp_path_factory) -> dict[str, Path]:
    """The same weights saved plain, sharded, and with the ``model.`` prefix."""
    root = tmp_path_factory.mktemp("whisper")
    hf_model.save_pretrained(root / "plain")
    hf_model.save_pretrained(root / "sharded", max_shard_size="100KB")
    full = transformers.WhisperForConditionalGeneration(hf_model.config)
    full.model.load_state_dict(hf_model.state_dict())
    full.save_pretrained(root / "prefixed")
    return {name: root / name for name in ("plain", "sharded", "prefixed")}


def build_params(config: ModelConfig):
    return init_variables(WhisperSign(config), jax.random.key(0))["params"]


@pytest.fixture(scope="module")
def loaded(checkpoints):
    config = whisper_model_config(checkpoints["plain"], NUM_GLOSSES, dropout=0.0)
    params = build_params(config)
    new_params, report = load_whisper_weights(params, config, checkpoints["plain"])
    return config, params, new_params, report


def flat(tree) -> dict:
    return {"/".join(key): value for key, value in traverse_util.flatten_dict(tree).items()}


def additive_key_mask(key_mask: np.ndarray, queries: int):
    """(batch, keys) bool -> transformers' (batch, 1, queries, keys) additive float mask."""
    keys = torch.from_numpy(key_mask)[:, None, None, :]
    mask = torch.where(keys, 0.0, torch.finfo(torch.float32).min)
    return mask.expand(key_mask.shape[0], 1, queries, key_mask.shape[1])


def padding_mask(padded: bool, length: int = 20) -> np.ndarray:
    mask = np.ones((2, length), bool)
    if padded:
        mask[1, 13:] = False  # the second sample has 13 valid positions
    return mask


def test_sinusoids_parity(hf_model):
    stored = hf_model.encoder.embed_positions.weight.detach().numpy()
    assert np.abs(sinusoids(64, D_MODEL) - stored).max() <= 1e-5
    # At Whisper's 1500 positions the float32 angle itself has a resolution of 1.2e-4.
    reference = transformers.models.whisper.modeling_whisper.sinusoids(1500, 384).numpy()
    assert np.abs(sinusoids(1500, 384) - reference).max() <= 2e-4


def reference_encoder_stack(encoder, embeddings: np.ndarray, positions, mask) -> np.ndarray:
    """transformers' encoder layers and final norm on ``embeddings + positions``."""
    with torch.no_grad():
        hidden = torch.from_numpy(embeddings) + torch.as_tensor(positions)
        attention_mask = additive_key_mask(mask, queries=embeddings.shape[1])
        for layer in encoder.layers:
            hidden = layer(hidden, attention_mask)
        return encoder.layer_norm(hidden).numpy()


def our_encoder_stack(config, encoder_params, embeddings: np.ndarray, mask) -> np.ndarray:
    """This project's encoder (it adds its own sinusoids) on the same ``embeddings``."""
    ours = WhisperEncoder(config).apply(
        {"params": encoder_params}, jnp.asarray(embeddings), jnp.asarray(mask)
    )
    return np.asarray(ours)


def reference_decoder_logits(decoder, tokens: np.ndarray, encoder_out, encoder_mask):
    """transformers' decoder layers, final norm and tied output projection."""
    batch, length = tokens.shape
    with torch.no_grad():
        positions = decoder.embed_positions.weight[:length]
        hidden = decoder.embed_tokens(torch.from_numpy(tokens)) + positions
        causal = torch.full((length, length), torch.finfo(torch.float32).min).triu(1)
        for layer in decoder.layers:
            hidden = layer(
                hidden,
                attention_mask=causal[None, None].expand(batch, 1, length, length),
                encoder_hidden_states=torch.from_numpy(encoder_out),
                encoder_attention_mask=additive_key_mask(encoder_mask, queries=length),
            )
        return (decoder.layer_norm(hidden) @ decoder.embed_tokens.weight.T).numpy()


def our_decoder_logits(config, decoder_params, decoder, tokens, encoder_out, encoder_mask):
    """This project's decoder with the reference ``decoder``'s token embeddings."""
    embedding = jnp.asarray(decoder.embed_tokens.weight.detach().numpy())
    decoder_params = {**decoder_params, "embed_tokens": {"embedding": embedding}}
    ours = WhisperDecoder(config).apply(
        {"params": decoder_params},
        jnp.asarray(tokens),
        jnp.asarray(encoder_out),
        jnp.asarray(encoder_mask),
    )
    return np.asarray(ours)


@pytest.mark.parametrize("padded", [False, True])
def test_encoder_stack_parity(hf_model, loaded, padded):
    config, _, params, _ = loaded
    embeddings = np.random.default_rng(1).normal(size=(2, 20, D_MODEL)).astype(np.float32)
    mask = padding_mask(padded)
    positions = hf_model.encoder.embed_positions.weight[:20]
    expected = reference_encoder_stack(hf_model.encoder, embeddings, positions, mask)

    ours = our_encoder_stack(config, params["encoder"], embeddings, mask)
    assert np.abs(np.asarray(ours) - expected)[mask].max() <= 1e-5


@pytest.mark.parametrize("padded", [False, True])
def test_decoder_stack_parity(hf_model, loaded, padded):
    config, _, params, _ = loaded
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, VOCAB, size=(2, 9))
    encoder_out = rng.normal(size=(2, 20, D_MODEL)).astype(np.float32)
    encoder_mask = padding_mask(padded)
    decoder = hf_model.decoder
    expected = reference_decoder_logits(decoder, tokens, encoder_out, encoder_mask)

    assert config.decoder_size == VOCAB
    ours = our_decoder_logits(config, params["decoder"], decoder, tokens, encoder_out, encoder_mask)
    assert np.abs(np.asarray(ours) - expected).max() <= 1e-5


def test_load_report(hf_model, loaded):
    _, params, new_params, report = loaded
    before, after = flat(params), flat(new_params)
    whisper_paths = sorted(p for p in before if p.startswith(WHISPER_PARTS))
    assert report.loaded == whisper_paths
    assert sorted(report.loaded + report.fresh) == sorted(before)
    assert {p.split("/")[0] for p in report.fresh} == {"frontend", "ctc_head", "decoder"}
    assert [p for p in report.fresh if p.startswith("decoder/")] == [
        "decoder/embed_tokens/embedding"
    ]
    assert report.skipped == sorted(
        [*CONV_STEM, "decoder.embed_tokens.weight", "encoder.embed_positions.weight"]
    )
    assert report.loaded_parameters == sum(after[p].size for p in report.loaded)
    assert report.fresh_parameters == sum(after[p].size for p in report.fresh)
    assert "ctc_head" in report.summary() and "encoder.conv1.weight" in report.summary()

    # Values: kernels transposed, LayerNorm weight -> scale, fresh parameters untouched.
    fc1 = hf_model.encoder.layers[1].fc1.weight.detach().numpy()
    np.testing.assert_array_equal(after["encoder/layers_1/mlp/fc1/kernel"], fc1.T)
    norm = hf_model.decoder.layers[0].encoder_attn_layer_norm.weight.detach().numpy()
    np.testing.assert_array_equal(after["decoder/layers_0/encoder_attn_layer_norm/scale"], norm)
    for path in report.fresh:
        np.testing.assert_array_equal(after[path], before[path])
    assert not np.array_equal(before["encoder/layers_1/mlp/fc1/kernel"], fc1.T)  # a copy


@pytest.mark.parametrize("variant", ["sharded", "prefixed"])
def test_checkpoint_variants_load_identically(checkpoints, loaded, variant):
    config, params, reference, reference_report = loaded
    if variant == "sharded":
        assert (checkpoints["sharded"] / "model.safetensors.index.json").is_file()
        assert len(list(checkpoints["sharded"].glob("model-*.safetensors"))) > 1
    else:
        tensors = load_file(checkpoints["prefixed"] / "model.safetensors")
        assert all(name.startswith("model.") for name in tensors)
    new_params, report = load_whisper_weights(params, config, checkpoints[variant])
    assert report.loaded == reference_report.loaded
    assert report.skipped == reference_report.skipped
    expected = flat(reference)
    for path, value in flat(new_params).items():
        np.testing.assert_array_equal(value, expected[path], err_msg=path)


def ctranslate2_folder(source: Path, target: Path, storage: str) -> Path:
    """The plain checkpoint converted to a CTranslate2 folder with ``storage`` weights."""
    tensors = load_file(source / "model.safetensors")
    variables = whisper_to_ctranslate2(tensors, num_heads=TINY_SIZES["encoder_attention_heads"])
    for name, value in list(variables.items()):
        if storage == "float16" and value.dtype == np.float32:
            variables[name] = value.astype(np.float16)
        elif storage == "int8" and name.endswith("linear_0/weight"):
            variables[name], variables[f"{name}_scale"] = quantize_int8(value)
    target.mkdir()
    (target / "config.json").write_text(json.dumps({"suppress_ids": [], "lang_ids": []}))
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    write_model_bin(target / "model.bin", variables, aliases)
    return target


@pytest.mark.parametrize("storage", ["float32", "float16", "int8"])
def test_ctranslate2_folder_loads_like_hugging_face(checkpoints, loaded, tmp_path, storage):
    config, params, reference, reference_report = loaded
    folder = ctranslate2_folder(checkpoints["plain"], tmp_path / "ct2", storage)
    assert resolve_checkpoint(str(folder)) == folder
    assert whisper_model_config(folder, NUM_GLOSSES, dropout=0.0) == config
    new_params, report = load_whisper_weights(params, config, folder)
    assert report.loaded == reference_report.loaded
    assert report.skipped == reference_report.skipped
    assert report.source == str(folder)
    expected = flat(reference)
    for path, value in flat(new_params).items():
        if storage == "float32" or path not in report.loaded:
            np.testing.assert_array_equal(value, expected[path], err_msg=path)
        elif storage == "float16":  # float16 -> float32 is exact
            rounded = np.asarray(expected[path]).astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(value, rounded, err_msg=path)
        elif re.search(r"/(self_attn/[qkv]_proj|encoder_attn/q_proj|fc1)/kernel$", path):
            # quantized (every CTranslate2 linear_0): within half an int8 step of their row
            step = np.abs(np.asarray(expected[path])).max(axis=0) / 127  # (in, out) kernel
            assert (np.abs(value - expected[path]) <= step / 2 + 1e-7).all(), path
        else:
            np.testing.assert_array_equal(value, expected[path], err_msg=path)
    if storage == "int8":  # the values did go through int8
        path = "encoder/layers_0/self_attn/k_proj/kernel"
        assert not np.array_equal(flat(new_params)[path], expected[path])


def test_shorter_decoder_takes_first_positions(hf_model, checkpoints):
    config = whisper_model_config(checkpoints["plain"], NUM_GLOSSES, max_target_positions=16)
    new_params, _ = load_whisper_weights(build_params(config), config, checkpoints["plain"])
    positions = hf_model.decoder.embed_positions.weight.detach().numpy()
    embedding = np.asarray(new_params["decoder"]["embed_positions"]["embedding"])
    np.testing.assert_array_equal(embedding, positions[:16])

    config = whisper_model_config(checkpoints["plain"], NUM_GLOSSES, max_target_positions=64)
    with pytest.raises(ValueError, match=r"max_target_positions=64 .* only 32"):
        load_whisper_weights(build_params(config), config, checkpoints["plain"])


def test_size_mismatch_states_both_sizes(checkpoints):
    config = whisper_model_config(checkpoints["plain"], NUM_GLOSSES, d_model=32, encoder_layers=3)
    # Sizes are checked before any tensor is read, so abstract parameters suffice.
    shapes = jax.eval_shape(lambda: build_params(config))
    with pytest.raises(ValueError) as error:
        load_whisper_weights(shapes, config, checkpoints["plain"])
    message = str(error.value)
    assert "d_model=32, encoder_layers=3 but checkpoint" in message
    assert "has d_model=64, encoder_layers=2" in message
    assert str(checkpoints["plain"]) in message


def rewrite_checkpoint(source: Path, target: Path, edit) -> Path:
    """A copy of a single-file checkpoint whose tensors went through ``edit``."""
    target.mkdir()
    shutil.copy(source / "config.json", target / "config.json")
    tensors = load_file(source / "model.safetensors")
    edit(tensors)
    save_file(tensors, target / "model.safetensors")
    return target


def test_missing_and_misshapen_tensors_are_named(checkpoints, loaded, tmp_path):
    config, params, _, _ = loaded
    missing = rewrite_checkpoint(
        checkpoints["plain"], tmp_path / "missing", lambda t: t.pop("encoder.layers.1.fc2.bias")
    )
    with pytest.raises(ValueError, match=r"lacks tensors .*encoder\.layers\.1\.fc2\.bias"):
        load_whisper_weights(params, config, missing)

    def misshape(tensors):
        tensors["decoder.layers.0.fc1.weight"] = np.zeros((128, 60), np.float32)

    misshapen = rewrite_checkpoint(checkpoints["plain"], tmp_path / "misshapen", misshape)
    with pytest.raises(
        ValueError, match=r"decoder\.layers\.0\.fc1\.weight .*\(128, 60\).*\(128, 64\)"
    ):
        load_whisper_weights(params, config, misshapen)


def test_truncated_file_asks_for_a_new_download(checkpoints, loaded, tmp_path):
    config, params, _, _ = loaded
    broken = tmp_path / "broken"
    shutil.copytree(checkpoints["plain"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ValueError, match="re-download") as error:
        load_whisper_weights(params, config, broken)
    assert str(weights) in str(error.value)


def test_truncated_ctranslate2_file_asks_for_a_new_download(checkpoints, loaded, tmp_path):
    config, params, _, _ = loaded
    folder = ctranslate2_folder(checkpoints["plain"], tmp_path / "ct2", "float16")
    weights = folder / "model.bin"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ValueError, match="re-download") as error:
        load_whisper_weights(params, config, folder)
    assert str(weights) in str(error.value)


def test_missing_directory_or_files(checkpoints, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_checkpoint(tmp_path / "absent")
    only_weights = tmp_path / "only_weights"
    only_weights.mkdir()
    shutil.copy(checkpoints["plain"] / "model.safetensors", only_weights)
    with pytest.raises(FileNotFoundError, match=r"config\.json is missing"):
        resolve_checkpoint(only_weights)
    only_config = tmp_path / "only_config"
    only_config.mkdir()
    shutil.copy(checkpoints["plain"] / "config.json", only_config)
    with pytest.raises(FileNotFoundError, match=r"has no model\.safetensors"):
        resolve_checkpoint(str(only_config))


def test_whisper_model_config_reads_sizes(checkpoints, tmp_path):
    config = whisper_model_config(checkpoints["plain"], NUM_GLOSSES, patch_size=2)
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (64, 2, 2)
    assert (config.num_heads, config.ffn_dim, config.max_target_positions) == (4, 128, 32)
    assert (config.num_glosses, config.patch_size) == (NUM_GLOSSES, 2)

    uneven = tmp_path / "uneven"
    shutil.copytree(checkpoints["plain"], uneven)
    values = json.loads((uneven / "config.json").read_text())
    (uneven / "config.json").write_text(json.dumps({**values, "decoder_attention_heads": 8}))
    with pytest.raises(ValueError, match="attention heads 4/8"):
        whisper_model_config(uneven, NUM_GLOSSES)


def test_offline_uncached_hub_id(monkeypatch, tmp_path):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match=r"HF_HUB_OFFLINE is set\. Download it once"):
        resolve_checkpoint("whispersign-tests/whisper-uncached")


def whisper_part_formula(d: int, ffn: int, encoder_layers: int, decoder_layers: int) -> int:
    """Encoder + decoder layers, both final LayerNorms and 448 learned decoder positions."""
    encoder_layer = 4 * d * d + 3 * d + 2 * d * ffn + ffn + d + 4 * d  # attention, MLP, 2 norms
    decoder_layer = 8 * d * d + 6 * d + 2 * d * ffn + ffn + d + 6 * d  # 2 attentions, 3 norms
    return encoder_layers * encoder_layer + decoder_layers * decoder_layer + 4 * d + 448 * d


@pytest.mark.parametrize("size", list(WHISPER_PRESETS))
def test_preset_parameter_counts_match_transformers(size):
    config = ModelConfig.preset(size, num_glosses=10)
    shapes = jax.eval_shape(lambda: init_variables(WhisperSign(config), jax.random.key(0)))
    ours = sum(
        int(np.prod(leaf.shape))
        for path, leaf in flat(shapes["params"]).items()
        if path.startswith(WHISPER_PARTS)
    )

    sizes = WHISPER_PRESETS[size]
    hf_config = transformers.WhisperConfig(
        d_model=sizes["d_model"],
        encoder_layers=sizes["encoder_layers"],
        decoder_layers=sizes["decoder_layers"],
        encoder_attention_heads=sizes["num_heads"],
        decoder_attention_heads=sizes["num_heads"],
        encoder_ffn_dim=sizes["ffn_dim"],
        decoder_ffn_dim=sizes["ffn_dim"],
        max_target_positions=448,
    )
    with torch.device("meta"):  # shapes only: large-v3 costs no memory
        hf = transformers.WhisperModel(hf_config)
    hf_parts = tuple(part.replace("/", ".").replace("layers_", "layers.") for part in WHISPER_PARTS)
    theirs = sum(p.numel() for name, p in hf.named_parameters() if name.startswith(hf_parts))

    assert ours == theirs
    assert ours == whisper_part_formula(
        sizes["d_model"], sizes["ffn_dim"], sizes["encoder_layers"], sizes["decoder_layers"]
    )
