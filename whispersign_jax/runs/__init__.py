"""What a training run leaves on disk and how it is read back: the workdir, the checkpoint
format, the trained-model loader and the shareable model folder. Training writes these;
inference, export and serve read them."""
