"""The shipped training configs, installed as ``whispersign_jax.configs`` (see
``whispersign_jax/cli/config_files.py``)."""
