"""The shipped training configs, installed as ``whispersign_jax.configs`` (see
``whispersign_jax/config_files.py``)."""
