"""Video -> keypoints with MediaPipe: frame reading, tracking of hands (and pose and lips), slots,
resampling.

Nothing here imports JAX or TensorFlow, so extraction runs in a NumPy + OpenCV + MediaPipe
environment. `whispersign_jax.extract` is the entry point (library function and CLI).
"""
