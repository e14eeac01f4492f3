"""Exported models: ``python -m whispersign_jax.export`` writes TFLite, SavedModel or ONNX files
with their metadata (``convert``, needs JAX), and ``python -m whispersign_jax.export.run``
recognises keypoints with them through ai-edge-litert, onnxruntime or TensorFlow, without JAX
(``runtime``). Importing this package imports neither."""
