"""Prepares a sign dataset into the processed layout (docs/design.md, "Data contract"), or
with `--layout corpus` into a corpus of sharded ArrayRecord files (docs/scaling.md). NumPy only
for the processed layout.

    python scripts/prepare_vsl_data.py --format {kaggle,huggingface,video,pose,mp_data} \
        --data_dir DIR [--label_csv CSV] --output_dir data/processed [--target_fps 60] \
        [--workers N] [--seed 0] [--split_fractions 0.8,0.1,0.1] [--mirrored] \
        [--backend auto] [--fps 30] [--joint_set hands] [--overwrite] \
        [--layout processed|corpus] [--clips_per_shard 1024]

`--source` is accepted for `--format`, `--mp_data_fps`/`--voya_fps` for `--fps`; `--help`
lists the formats and which options each takes. `--joint_set` picks the joint set (hands,
hands_pose, hands_pose_lips) where the format carries it. See docs/data.md.
"""

import sys

from whispersign_jax.data.prepare.cli import main

if __name__ == "__main__":
    sys.exit(main())
