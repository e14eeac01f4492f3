"""Video -> keypoints with MediaPipe: frame reading, tracking of hands (and pose and lips), slots,
resampling.

Nothing here imports JAX or TensorFlow, so extraction runs in a NumPy + OpenCV + MediaPipe
environment. `pipeline.py` is the library entry (video -> keypoints); `__main__.py` the command.
"""
