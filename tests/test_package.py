"""The package import stays light for the extraction environment."""

from conftest import frameworks_imported_by


def test_import_pulls_in_no_heavy_framework():
    modules = ("whispersign_jax", "whispersign_jax.vocab", "whispersign_jax.model.config")
    assert frameworks_imported_by(*modules) == []


def test_export_runtime_and_decoder_results_import_no_framework():
    """The exported-model runtime runs where only NumPy and a TFLite or ONNX runtime exist."""
    modules = (
        "whispersign_jax.decoding",
        "whispersign_jax.decoding.numpy_decoders",
        "whispersign_jax.streaming",
        "whispersign_jax.export.runtime",
        "whispersign_jax.export.run",
        "whispersign_jax.export.__main__",
    )
    assert frameworks_imported_by(*modules) == []
