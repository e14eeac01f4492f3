"""The package import stays light for the extraction environment."""

from conftest import REPO, frameworks_imported_by


def test_import_pulls_in_no_heavy_framework():
    modules = ("whispersign_jax", "whispersign_jax.vocab", "whispersign_jax.model.config")
    assert frameworks_imported_by(*modules) == []


def test_export_runtime_and_decoder_results_import_no_framework():
    """The exported-model runtime runs where only NumPy and a TFLite or ONNX runtime exist."""
    modules = (
        "whispersign_jax.decoding",
        "whispersign_jax.decoding.numpy_decoders",
        "whispersign_jax.inference.streaming",
        "whispersign_jax.export.runtime",
        "whispersign_jax.export.run",
        "whispersign_jax.export.__main__",
    )
    assert frameworks_imported_by(*modules) == []


def test_pyproject_lists_every_package_and_ships_the_configs():
    """pyproject's explicit package list (needed to install configs/ as
    whispersign_jax.configs) names every folder of the package."""
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "whispersign_jax").rglob("__init__.py")
        if "static" not in init.parts
    }
    assert set(setuptools["packages"]) == folders | {"whispersign_jax.configs"}
    assert setuptools["package-dir"]["whispersign_jax.configs"] == "configs"
    assert (REPO / "configs" / "__init__.py").is_file()


def test_the_version_is_defined_once_and_quoted_right():
    import importlib.metadata
    import re
    import tomllib

    import yaml

    import whispersign_jax

    version = whispersign_jax.__version__
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert importlib.metadata.version("whispersign-jax") == version  # the installed metadata
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["version"] == version
    assert all(ref.get("title") and ref.get("authors") for ref in citation["references"])  # CFF
    assert "https://github.com/minhduc110207/Whisper_modification" in {
        ref.get("repository-code") for ref in citation["references"]
    }  # the original WhisperSign
    newest = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert newest.group(1) == version
    assert (REPO / "LICENSE").read_text().split()[:3] == ["Apache", "License", "Version"]
