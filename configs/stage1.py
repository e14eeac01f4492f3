"""Stage 1 only, at the `base` size (see configs/default.py for every field).

    python -m whispersign_jax.main --config=configs/stage1.py --workdir=runs/x

In a workdir where an earlier stage has run, this stage starts from its best parameters with a
fresh optimizer; otherwise from `--config.init_checkpoint`, `--config.pretrained` or scratch.
"""

from whispersign_jax.cli.config_files import sibling

default = sibling(__file__, "default")


def get_config():
    return default.single_stage("stage1")
