"""Model sizes: Whisper's presets and free custom sizes (no JAX import)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from whispersign_jax import vocab

# Whisper's own sizes: d_model, encoder layers, decoder layers, attention heads, MLP width.
WHISPER_PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(d_model=384, encoder_layers=4, decoder_layers=4, num_heads=6, ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, num_heads=8, ffn_dim=2048),
    "small": dict(d_model=768, encoder_layers=12, decoder_layers=12, num_heads=12, ffn_dim=3072),
    "medium": dict(d_model=1024, encoder_layers=24, decoder_layers=24, num_heads=16, ffn_dim=4096),
    "large-v3": dict(
        d_model=1280, encoder_layers=32, decoder_layers=32, num_heads=20, ffn_dim=5120
    ),
}
DTYPES = ("float32", "bfloat16")
SIZE_FIELDS = tuple(WHISPER_PRESETS["base"])  # the fields a preset fixes
# Fields that shape no stored array: a checkpoint trained with other values still loads
# (runs/record.py). A workdir still refuses a rerun that changes them (runs/workdir.py asks
# "the same run?", a checkpoint "the same arrays?").
UNSTORED_FIELDS = ("dropout", "channel_dropout", "dtype")
CUSTOM_SIZE = "custom"
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of bfloat16 matmuls


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The first processor's feature flags (empty where ``cpuinfo`` cannot be read)."""
    try:
        with open(cpuinfo) as file:
            for line in file:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_compute_dtype(flags: set[str] | None = None) -> str:
    """``bfloat16`` where the CPU multiplies bfloat16 matrices itself (AVX-512 BF16 or AMX:
    1.15-1.3x the training steps per second, docs/benchmarks.md), else ``float32``
    (elsewhere bfloat16 is converted, not faster). ``flags``: the CPU's, read from
    /proc/cpuinfo by default."""
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if flags.intersection(BFLOAT16_CPU_FLAGS) else "float32"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the model's parameter shapes and its computation."""

    num_glosses: int  # glosses 1..N; the CTC head has N + 1 classes (blank = 0)
    d_model: int = 512  # width of the frontend output, encoder and decoder
    encoder_layers: int = 6
    decoder_layers: int = 6
    num_heads: int = 8
    ffn_dim: int = 2048  # MLP width inside each transformer layer
    patch_size: int = 4  # frames per temporal patch: 60 FPS -> 15 encoder positions per second
    conv_kernel: int = 31  # ConvSPE depthwise kernel, in patches
    dropout: float = 0.1
    channel_dropout: float = 0.1  # drops whole feature channels of a sample (spatial dropout)
    max_source_positions: int = 1500  # longest encoder input, in patches
    max_target_positions: int = 448  # Whisper's decoder positions
    dtype: str = "float32"  # compute dtype; parameters are always float32
    num_joints: int = 42  # joints per frame of the input (its joint set, keypoints.JOINT_SETS)

    def __post_init__(self) -> None:
        if self.num_glosses < 1:
            raise ValueError(f"model.num_glosses must be >= 1, got {self.num_glosses}.")
        if self.num_heads < 1:
            raise ValueError(f"model.num_heads must be >= 1, got {self.num_heads}.")
        if self.d_model % self.num_heads:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.num_heads "
                f"({self.num_heads})."
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"model.dtype must be one of {DTYPES}, got {self.dtype!r}.")
        if self.patch_size < 1 or self.conv_kernel < 1:
            raise ValueError("model.patch_size and model.conv_kernel must be >= 1.")
        if self.num_joints < 1:
            raise ValueError(f"model.num_joints must be >= 1, got {self.num_joints}.")

    @classmethod
    def preset(cls, size: str, num_glosses: int, **overrides: Any) -> ModelConfig:
        """A Whisper size (``tiny`` ... ``large-v3``) with optional field overrides."""
        if size not in WHISPER_PRESETS:
            raise ValueError(
                f"Unknown model size {size!r}; choose one of {sorted(WHISPER_PRESETS)} "
                f"or {CUSTOM_SIZE!r} with explicit sizes."
            )
        return cls.from_dict({"num_glosses": num_glosses, **WHISPER_PRESETS[size], **overrides})

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], num_glosses: int) -> ModelConfig:
        """``config.model`` -> ModelConfig. ``size`` names a preset (or ``custom``); a size
        field of 0 takes the preset's value; every other key is a field of this class."""
        settings = dict(settings)
        size = settings.pop("size")
        fields = {k: v for k, v in settings.items() if v or k not in SIZE_FIELDS}
        if size != CUSTOM_SIZE:
            return cls.preset(size, num_glosses, **fields)
        missing = [name for name in SIZE_FIELDS if name not in fields]
        if missing:
            raise ValueError(f"config.model.size='custom' needs config.model.{missing} set.")
        return cls.from_dict({"num_glosses": num_glosses, **fields})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"Unknown model config fields {sorted(unknown)}; known: {sorted(known)}."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    @property
    def ctc_size(self) -> int:
        return vocab.ctc_size(self.num_glosses)

    @property
    def decoder_size(self) -> int:
        return vocab.decoder_size(self.num_glosses)

    def num_patches(self, num_frames: int) -> int:
        """Encoder positions for ``num_frames`` frames: ``ceil(T / P)``."""
        return -(-num_frames // self.patch_size)
