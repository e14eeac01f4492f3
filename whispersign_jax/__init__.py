"""WhisperSign-JAX: sign-language gloss recognition with a Whisper encoder-decoder in JAX/Flax.

Importing the package is cheap on purpose: it imports no JAX, TensorFlow, MediaPipe or torch,
so the keypoint extractor runs in an environment that has only NumPy, OpenCV and MediaPipe.
"""

__version__ = "0.2.0"
