"""Flag names shared by every command, and the old names kept for one release.

One meaning per name across the command lines: ``--keypoints`` is a keypoint ``.npy`` file,
``--joint_set`` the joints to extract (hands, hands_pose, hands_pose_lips), ``--dtype`` the
compute dtype, ``--weights_dtype`` the stored weights of an export, and ``--hand_model``,
``--pose_model``, ``--face_model`` one's own MediaPipe ``.task`` files. An old name still
works, with a warning on stderr, until the release named in ``REMOVED_IN``.

No JAX and no absl at import: ``extract`` (argparse) runs where only NumPy, OpenCV and
MediaPipe are installed.
"""

from __future__ import annotations

import argparse
import sys

REMOVED_IN = "0.3.0"

# old name -> new name; each command declares which of them it accepts.
RENAMED = {
    "keypoints": "joint_set",  # extract, prepare: --keypoints is now a keypoint file
    "model_path": "hand_model",
    "pose_model_path": "pose_model",
    "face_model_path": "face_model",
    "dtype": "weights_dtype",  # export: --dtype is the compute dtype elsewhere
}
MEDIAPIPE_MODELS = ("model_path", "pose_model_path", "face_model_path")  # old names


def deprecation_warning(old: str) -> str:
    return (
        f"warning: --{old} is deprecated, use --{RENAMED[old]} (the old name goes in {REMOVED_IN})"
    )


class _OldName(argparse.Action):
    """An argparse flag under its old name: stores into the new name's ``dest``, warns."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(deprecation_warning(option_string.lstrip("-")), file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed_argument(parser: argparse.ArgumentParser, old: str, **kwargs) -> None:
    """``--RENAMED[old]`` with ``kwargs``, and ``--old`` for it, hidden from ``--help``."""
    new = RENAMED[old]
    parser.add_argument(f"--{new}", **kwargs)
    parser.add_argument(
        f"--{old}",
        dest=new,
        action=_OldName,
        type=kwargs.get("type"),
        choices=kwargs.get("choices"),
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )


def define_absl_old_names(*old_names: str) -> None:
    """The absl version: each old name is an alias of its new flag (already defined), marked
    deprecated in ``--help``; ``warn_absl_old_names`` warns after parsing."""
    from absl import flags

    for old in old_names:
        flags.DEFINE_alias(old, RENAMED[old])
        flags.FLAGS[old].help = f"Deprecated: use --{RENAMED[old]} (goes in {REMOVED_IN})."
        _ABSL_OLD_NAMES.add(old)


_ABSL_OLD_NAMES: set[str] = set()


def warn_absl_old_names() -> None:
    """One warning on stderr per old name given on the command line."""
    from absl import flags

    for old in sorted(_ABSL_OLD_NAMES):
        if flags.FLAGS[old].present:
            print(deprecation_warning(old), file=sys.stderr)
