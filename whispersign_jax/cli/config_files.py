"""The shipped training configs: the repository's top-level ``configs/``, installed with the
package as ``whispersign_jax.configs`` (pyproject's ``package-dir``).

``--config`` takes a config file's path, or a shipped config by name from any folder
(``demo``, ``demo.py:quick``, ``stage2``). Config files build on each other by path with
``sibling`` (not ``from configs import default``, which only works from the repository root).
Imports nothing heavy: ``--help`` lists the shipped configs at once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def configs_dir() -> Path | None:
    """The folder of the installed shipped configs, or None when they are not installed."""
    try:
        spec = importlib.util.find_spec("whispersign_jax.configs")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def shipped_names() -> list[str]:
    """The names of the shipped configs (``default``, ``demo``, ...), sorted."""
    folder = configs_dir()
    if folder is None:
        return []
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def resolve(argument: str) -> str:
    """A ``--config`` value as a file path: ``path[:variant]`` as given when the file exists,
    else the shipped config of that name (``demo.py:quick`` or ``demo:quick``)."""
    path, colon, variant = argument.partition(":")
    if Path(path).expanduser().is_file():
        return argument
    name = Path(path).stem if Path(path).suffix == ".py" else Path(path).name
    folder = configs_dir()
    by_name = Path(path).parent in (Path("."), Path("configs"))  # demo.py, configs/demo.py
    if folder is None or not by_name or name not in shipped_names():
        return argument  # config_flags names the missing file
    return f"{folder / f'{name}.py'}{colon}{variant}"


def sibling(config_file: str, name: str) -> ModuleType:
    """The config module ``name`` beside ``config_file`` (a config's ``__file__``)."""
    path = Path(config_file).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"whispersign_jax_config_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
