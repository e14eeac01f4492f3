"""TFDS builders for every data source; importing this package registers them with TFDS.

| name | reads (TFDS manual-download folder) |
| --- | --- |
| `whispersign_synthetic` | nothing: the built-in generator (configs `isolated`, `continuous`) |
| `whispersign_processed` | the processed layout (`{train,val,test}/{features,labels}`) |
| `vsl_kaggle`, `voya_vsl`, `sign_videos`, `sign_pose_files`, `mp_data` | the raw formats |

The raw dataset formats are the table ``whispersign_jax.data.prepare.formats.FORMATS``; their
builders are generated from it (``format_builders``) and split by recording.

Build with ``python -m whispersign_jax.data.tfds_builders.build --name NAME --manual_dir DIR``
and train with ``--config.data.source=tfds --config.data.name=NAME``.
"""

from whispersign_jax.data.tfds_builders.format_builders import FORMAT_BUILDERS
from whispersign_jax.data.tfds_builders.processed_builder import WhispersignProcessed
from whispersign_jax.data.tfds_builders.synthetic_builder import WhispersignSynthetic

BUILDERS = (WhispersignSynthetic, WhispersignProcessed, *FORMAT_BUILDERS)

globals().update({builder.__name__: builder for builder in FORMAT_BUILDERS})  # e.g. MpData
__all__ = ["BUILDERS", *(builder.__name__ for builder in BUILDERS)]
