"""Pictures for people: skeleton frames, training curves and confusion matrices (NumPy and
Pillow only)."""
