"""CTranslate2 (faster-whisper) Whisper folders: ``model.bin`` read with NumPy, Hugging Face names.

The layout of ``model.bin`` as CTranslate2 writes and reads it (its
``python/ctranslate2/specs/model_spec.py``, ``ModelSpec._serialize``, and
``src/models/model.cc``, ``SerializedModel`` / ``SerializedVariable``), little-endian::

    uint32 binary_version                      (1 ... 6)
    string spec_name, uint32 spec_revision     (binary_version >= 2)
    uint32 num_variables, then each variable:
        string name, uint8 rank, uint32 dims[rank],
        uint8 dtype id, uint32 num_bytes       (binary_version >= 4)
        uint8 item size, uint32 num_elements   (older: 4 float32, 2 int16, 1 int8)
        the raw values, row-major
    uint32 num_aliases, then each: string alias, string target    (binary_version >= 3)

    string: uint16 length including a trailing NUL, then the UTF-8 bytes and the NUL.

A quantized weight ``x/weight`` (int8, int16) comes with ``x/weight_scale``: the stored
integers are ``rint(weight * scale)``, int8 with one scale per output row, int16 with one
scale for the tensor. An alias shares its target's values and scale.

Variable names follow CTranslate2's ``WhisperSpec`` (``specs/whisper_spec.py``,
``specs/transformer_spec.py``) as its Transformers converter fills them
(``converters/transformers.py``, ``WhisperLoader`` / ``BartLoader``), which is how
faster-whisper's models are made: ``self_attention/linear_0`` is the fused (q; k; v)
projection, ``attention/linear_1`` the fused (k; v) cross-attention projection, LayerNorms
have ``gamma`` / ``beta``. Everything here is NumPy and ``struct``; nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import math
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.bin"
WHISPER_SPEC = "WhisperSpec"
LATEST_BINARY_VERSION = 6
# dtype ids of CTranslate2's DataType enum (include/ctranslate2/types.h).
DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
LEGACY_DTYPES = {4: "float32", 2: "int16", 1: "int8"}  # binary_version < 4: by item size
NUMPY_DTYPES = {"float32": "<f4", "int8": "i1", "int16": "<i2", "int32": "<i4"}
NUMPY_DTYPES |= {"float16": "<f2", "bfloat16": "<u2"}  # bfloat16: the upper half of a float32
FLOATS = ("float32", "float16", "bfloat16")
QUANTIZED = ("int8", "int16")  # with a ``{name}_scale``; int32 (AWQ) weights are refused
SUPPORTED = "float32, float16, bfloat16, and int8/int16 weights with their scales"
# CTranslate2's common_spec.Activation -> Hugging Face's activation_function.
ACTIVATIONS = {0: "relu", 1: "gelu_new", 2: "silu", 3: "gelu", 4: "quick_gelu", 5: "tanh"}

# CTranslate2 module (inside encoder/layer_N or decoder/layer_N) -> Hugging Face modules, one
# per fused part. The fused key bias is zero (Hugging Face's k_proj has none) and dropped; any
# key bias would add the same amount to every score of a query, which the softmax ignores.
LAYER_MODULES = {
    "self_attention/linear_0": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "self_attention/linear_1": ("self_attn.out_proj",),
    "self_attention/layer_norm": ("self_attn_layer_norm",),
    "attention/linear_0": ("encoder_attn.q_proj",),
    "attention/linear_1": ("encoder_attn.k_proj", "encoder_attn.v_proj"),
    "attention/linear_2": ("encoder_attn.out_proj",),
    "attention/layer_norm": ("encoder_attn_layer_norm",),
    "ffn/linear_0": ("fc1",),
    "ffn/linear_1": ("fc2",),
    "ffn/layer_norm": ("final_layer_norm",),
}
OTHER_MODULES = {
    "encoder/conv1": "encoder.conv1",
    "encoder/conv2": "encoder.conv2",
    "encoder/position_encodings": "encoder.embed_positions",
    "encoder/layer_norm": "encoder.layer_norm",
    "decoder/embeddings": "decoder.embed_tokens",
    "decoder/position_encodings": "decoder.embed_positions",
    "decoder/layer_norm": "decoder.layer_norm",
    "decoder/projection": "proj_out",  # only when not an alias of the embeddings (untied)
}
LEAVES = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
LEAVES["encodings"] = "weight"
LAYER_NAME = re.compile(r"(encoder|decoder)/layer_(\d+)/(.+)/(\w+)")


class CorruptModelError(ValueError):
    """``model.bin`` ends early or holds values no CTranslate2 writer produces."""


@dataclasses.dataclass(frozen=True)
class Variable:
    """One stored variable: its dtype name and its raw values (a view into the file)."""

    dtype: str
    values: np.ndarray  # stored values in the stored shape; bfloat16 as uint16


@dataclasses.dataclass
class ModelBin:
    """The parsed ``model.bin``: the spec it was written for and every variable by name."""

    file: Path
    binary_version: int
    spec: str
    revision: int
    variables: dict[str, Variable]  # aliases included, sharing their target's values

    def array(self, name: str) -> np.ndarray:
        """A variable as float32 (floats and dequantized weights); integer scalars as stored."""
        variable = self.variables[name]
        values = variable.values
        if variable.dtype == "bfloat16":
            return (values.astype(np.uint32) << 16).view(np.float32)
        if variable.dtype in FLOATS:
            return values.astype(np.float32)
        scale = self.variables.get(f"{name}_scale")
        if scale is None and not name.endswith("weight"):  # model.cc's is_quantizable
            return values.copy()  # a setting such as num_heads or a flag
        if variable.dtype not in QUANTIZED or scale is None:
            what = "without a quantization scale" if scale is None else "quantized"
            raise ValueError(
                f"{self.file}: variable {name} is {variable.dtype} {what}; this reader supports "
                f"{SUPPORTED}. Convert the model again with `ct2-transformers-converter "
                "--quantization float16` (or float32)."
            )
        scale = self.array(f"{name}_scale")
        if variable.dtype == "int8":  # one scale per output row
            scale = scale.reshape((-1,) + (1,) * (values.ndim - 1))
        return values.astype(np.float32) / scale


def read_model_bin(file: str | Path) -> ModelBin:
    """Parses a CTranslate2 ``model.bin``; the values stay in the (memory-mapped) file."""
    file = Path(file)
    try:
        data = np.memmap(file, dtype=np.uint8, mode="r")
    except ValueError as err:  # an empty file cannot be mapped
        raise CorruptModelError(_corrupt(file, f"cannot map it ({err})")) from err
    reader = _Reader(data, file)
    version = reader.unpack("I")
    if not 1 <= version <= LATEST_BINARY_VERSION:
        raise CorruptModelError(
            _corrupt(
                file,
                f"binary version {version}, but CTranslate2 model.bin files have versions 1 to "
                f"{LATEST_BINARY_VERSION}",
            )
        )
    spec, revision = (reader.string(), reader.unpack("I")) if version >= 2 else ("", 1)
    variables = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        variables[name] = reader.variable(name, version)
    if version >= 3:
        for _ in range(reader.unpack("I")):
            alias, target = reader.string(), reader.string()
            for suffix in ("", "_scale"):  # as CTranslate2 does, the scale follows its weight
                if target + suffix in variables:
                    variables[alias + suffix] = variables[target + suffix]
    return ModelBin(file, version, spec, revision, variables)


class _Reader:
    """Sequential little-endian reads that fail with the file's name and the position."""

    def __init__(self, data: np.ndarray, file: Path):
        self.data, self.file, self.position = data, file, 0

    def take(self, size: int, what: str) -> np.ndarray:
        end = self.position + size
        if end > len(self.data):
            raise CorruptModelError(
                _corrupt(
                    self.file,
                    f"it ends at byte {len(self.data)} while reading {what} of {size} bytes at "
                    f"byte {self.position}",
                )
            )
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def unpack(self, code: str) -> int:
        size = struct.calcsize("<" + code)
        return struct.unpack("<" + code, self.take(size, "an integer").tobytes())[0]

    def string(self) -> str:
        raw = self.take(self.unpack("H"), "a name").tobytes()
        try:
            if not raw.endswith(b"\0"):
                raise UnicodeDecodeError("utf-8", raw, len(raw) - 1, len(raw), "no NUL")
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise CorruptModelError(
                _corrupt(self.file, f"the name ending at byte {self.position} is not text")
            ) from err

    def variable(self, name: str, version: int) -> Variable:
        shape = tuple(self.unpack("I") for _ in range(self.unpack("B")))
        count = math.prod(shape)
        code = self.unpack("B")
        dtype = DTYPES.get(code) if version >= 4 else LEGACY_DTYPES.get(code)
        if dtype is None:
            raise CorruptModelError(
                _corrupt(self.file, f"variable {name!r} has an unknown dtype code {code}")
            )
        itemsize = np.dtype(NUMPY_DTYPES[dtype]).itemsize
        num_bytes = self.unpack("I") * (1 if version >= 4 else itemsize)
        if num_bytes != count * itemsize:
            raise CorruptModelError(
                _corrupt(
                    self.file,
                    f"variable {name!r} of shape {shape} and dtype {dtype} claims {num_bytes} "
                    "bytes",
                )
            )
        raw = self.take(num_bytes, f"the values of {name!r}")
        return Variable(dtype, raw.view(NUMPY_DTYPES[dtype]).reshape(shape))


def _corrupt(file: Path, detail: str) -> str:
    return (
        f"Cannot read {file}: {detail}. It is not a complete CTranslate2 model.bin: the file "
        "looks truncated or corrupt; delete it and re-download (or re-convert) the model."
    )


def whisper_config(model: ModelBin) -> dict[str, Any]:
    """Hugging Face ``config.json`` fields of the Whisper in ``model``, from its shapes."""
    if model.spec != WHISPER_SPEC:
        raise ValueError(
            f"{model.file} holds a CTranslate2 {model.spec or 'unnamed'!r} model, not "
            f"{WHISPER_SPEC!r}: only Whisper models (faster-whisper folders) can be loaded."
        )
    names = model.variables
    missing = [name for name in ("encoder/num_heads", "decoder/num_heads") if name not in names]
    if missing:
        raise ValueError(
            f"{model.file} lacks {', '.join(missing)}, which give the attention heads; convert "
            "the model again with a current ct2-transformers-converter."
        )
    if "decoder/pre_norm" in names and not int(model.array("decoder/pre_norm")):
        raise ValueError(f"{model.file} has a post-norm decoder; Whisper is pre-norm.")

    def layers(part: str) -> int:
        found = {int(m[2]) for n in names if (m := LAYER_NAME.fullmatch(n)) and m[1] == part}
        return len(found)

    def shape(name: str) -> tuple[int, ...]:
        if name not in names:
            raise ValueError(f"{model.file} lacks the Whisper variable {name}.")
        return names[name].values.shape

    activation = int(model.array("decoder/activation")) if "decoder/activation" in names else 3
    scale_embedding = "decoder/scale_embeddings" in names and model.array(
        "decoder/scale_embeddings"
    )
    return {
        "model_type": "whisper",
        "d_model": shape("encoder/layer_norm/gamma")[0],
        "encoder_layers": layers("encoder"),
        "decoder_layers": layers("decoder"),
        "encoder_attention_heads": int(model.array("encoder/num_heads")),
        "decoder_attention_heads": int(model.array("decoder/num_heads")),
        "encoder_ffn_dim": shape("encoder/layer_0/ffn/linear_0/weight")[0],
        "decoder_ffn_dim": shape("decoder/layer_0/ffn/linear_0/weight")[0],
        "max_source_positions": shape("encoder/position_encodings/encodings")[0],
        "max_target_positions": shape("decoder/position_encodings/encodings")[0],
        "num_mel_bins": shape("encoder/conv1/weight")[1],
        "vocab_size": shape("decoder/embeddings/weight")[0],
        "activation_function": ACTIVATIONS.get(activation, f"CTranslate2 activation {activation}"),
        "scale_embedding": bool(scale_embedding),
    }


def hugging_face_names(model: ModelBin) -> dict[str, tuple[str, int, int]]:
    """Hugging Face tensor name (no ``model.`` prefix) -> (CTranslate2 name, part, parts).

    ``part`` of ``parts`` equal row blocks of a fused projection. Variables with no Hugging
    Face counterpart keep their CTranslate2 name (so a load report lists them as skipped);
    settings, scales, fused key biases and the tied output projection are left out.
    """
    embeddings = model.variables.get("decoder/embeddings/weight")
    names = {}
    for name, variable in model.variables.items():
        module, _, leaf = name.rpartition("/")
        tied = name == "decoder/projection/weight" and variable is embeddings
        if variable.values.ndim == 0 or name.endswith("_scale") or tied:
            continue
        if (match := LAYER_NAME.fullmatch(name)) and match[3] in LAYER_MODULES:
            prefix = f"{match[1]}.layers.{match[2]}."
            targets = [prefix + target for target in LAYER_MODULES[match[3]]]
        elif module in OTHER_MODULES:
            targets = [OTHER_MODULES[module]]
        else:
            names[name] = (name, 0, 1)
            continue
        for part, target in enumerate(targets):
            if not (target.endswith("k_proj") and leaf == "bias"):
                names[f"{target}.{LEAVES.get(leaf, leaf)}"] = (name, part, len(targets))
    return names


def whisper_tensors(model: ModelBin, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The float32 tensors of ``names`` (Hugging Face names from ``hugging_face_names``)."""
    sources = hugging_face_names(model)
    converted: dict[str, np.ndarray] = {}  # a fused projection is converted once
    tensors = {}
    for name in names:
        source, part, parts = sources[name]
        if source not in converted:
            converted[source] = model.array(source)
        tensors[name] = np.split(converted[source], parts)[part]
    return tensors
