"""The package import stays light for the extraction environment."""

from conftest import frameworks_imported_by


def test_import_pulls_in_no_heavy_framework():
    modules = ("whispersign_jax", "whispersign_jax.vocab", "whispersign_jax.model.config")
    assert frameworks_imported_by(*modules) == []
