"""The package import stays light for the extraction environment."""

import subprocess
import sys


def test_import_pulls_in_no_heavy_framework():
    code = (
        "import sys, whispersign_jax, whispersign_jax.vocab, whispersign_jax.model.config\n"
        "heavy = [m for m in ('jax', 'tensorflow', 'mediapipe', 'torch', 'flax') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
