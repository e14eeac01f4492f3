"""Using a trained model on keypoints: the recogniser, the streaming (sliding-window) recogniser
and the live camera features that feed it."""
