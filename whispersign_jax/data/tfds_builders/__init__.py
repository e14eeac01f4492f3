"""TFDS builders for every data source; importing this package registers them with TFDS.

| name | reads (TFDS manual-download folder) |
| --- | --- |
| `whispersign_synthetic` | nothing: the built-in generator (configs `isolated`, `continuous`) |
| `whispersign_processed` | the processed layout (`{train,val,test}/{features,labels}`) |
| `vsl_kaggle`, `voya_vsl`, `sign_videos`, `sign_pose_files`, `mp_data` | the raw sources |

The raw sources are read by ``whispersign_jax.data.prepare`` and split by recording.

Build with ``python -m whispersign_jax.data.tfds_builders.build --name NAME --manual_dir DIR``
and train with ``--config.data.source=tfds --config.data.name=NAME``.
"""

from whispersign_jax.data.tfds_builders.processed_builder import WhispersignProcessed
from whispersign_jax.data.tfds_builders.source_builders import (
    MpData,
    SignPoseFiles,
    SignVideos,
    VoyaVsl,
    VslKaggle,
)
from whispersign_jax.data.tfds_builders.synthetic_builder import WhispersignSynthetic

BUILDERS = (
    WhispersignSynthetic,
    WhispersignProcessed,
    VslKaggle,
    VoyaVsl,
    SignVideos,
    SignPoseFiles,
    MpData,
)

__all__ = ["BUILDERS", *(builder.__name__ for builder in BUILDERS)]
