"""A confusion matrix as an RGB image (NumPy + Pillow): rows normalised, white to dark blue,
with gloss names along the edges when there are few enough glosses to read them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_LABELLED = 40  # above this many rows the names would not fit
CELL = 18  # pixels per cell when labelled


def render_confusion(matrix: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """(N, N) counts -> (height, width, 3) uint8; cell (i, j) darkens with the share of
    reference i recognised as j."""
    from PIL import Image, ImageDraw

    counts = np.asarray(matrix, np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)  # (N, N) in [0, 1]
    size = counts.shape[0]
    cell = CELL if size <= MAX_LABELLED else max(2, 720 // size)
    white, blue = np.array([255.0, 255.0, 255.0]), np.array([8.0, 48.0, 107.0])
    colours = white + shares[..., None] * (blue - white)  # (N, N, 3)
    grid = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1).astype(np.uint8)
    margin = 7 * max(len(label) for label in labels) + 8 if size <= MAX_LABELLED else 0
    canvas = Image.new("RGB", (margin + grid.shape[1], margin + grid.shape[0]), "white")
    canvas.paste(Image.fromarray(grid), (margin, margin))
    if margin:
        draw = ImageDraw.Draw(canvas)
        for i, label in enumerate(labels):
            draw.text((2, margin + i * cell + 3), label, fill="black")  # rows: references
            column = Image.new("RGB", (margin, cell), "white")
            ImageDraw.Draw(column).text((2, 3), label, fill="black")
            canvas.paste(column.rotate(90, expand=True), (margin + i * cell, 0))
    return np.asarray(canvas)
