"""The extraction command's first name: ``python -m whispersign_jax.extract`` runs
``python -m whispersign_jax.extraction`` (``extraction/__main__.py``); the library is
``whispersign_jax.extraction.pipeline``."""

import sys

from whispersign_jax.extraction.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
