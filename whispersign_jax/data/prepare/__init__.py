"""Dataset preparation: read a raw dataset format into `SourceSample`s, split by recording,
write the processed layout. NumPy only (no JAX, no TensorFlow), so it runs in a light
environment.

    result = read_format("mp_data", "MP_Data")
    splits = split_by_recording(result.samples)
    vocabulary = write_processed(splits, "data/processed")

The formats are the table `prepare.formats.FORMATS`.
"""

from __future__ import annotations

from whispersign_jax.data.prepare.common import SourceResult, SourceSample
from whispersign_jax.data.prepare.formats import FORMATS, read_format
from whispersign_jax.data.prepare.splitting import split_by_recording
from whispersign_jax.data.processed import write_processed

__all__ = [
    "FORMATS",
    "SourceResult",
    "SourceSample",
    "read_format",
    "split_by_recording",
    "write_processed",
]
