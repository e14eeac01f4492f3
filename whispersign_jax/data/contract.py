"""The data contract's shared facts (docs/design.md, "Data contract"). NumPy-free constants,
imported by preparation, the training sources and the TFDS builders alike.

Keypoints: float32 `(T, J, 7)` at `keypoints.FPS`, J the joints of a joint set (42 for the
default `hands`; see `whispersign_jax.keypoints`).
The processed folder layout: `whispersign_jax.data.processed`. The label map file:
`whispersign_jax.vocab.LABEL_MAP_FILE`.
"""

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # default train, val, test share of the samples
SPLIT_SEED = 0  # default seed of the split by recording
UNTIMED_FPS = 30.0  # frame rate assumed for formats without timestamps (a webcam's rate)
