"""The in-memory sample every data source produces."""

from whispersign_jax.data.synthetic import Sample

__all__ = ["Sample"]
