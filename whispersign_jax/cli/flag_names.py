"""Flag names shared by every command, and the old names kept for one release.

One meaning per name across the command lines: ``--keypoints`` is a keypoint ``.npy`` file,
``--joint_set`` the joints to extract (hands, hands_pose, hands_pose_lips), ``--dtype`` the
compute dtype, ``--weights_dtype`` the stored weights of an export, and ``--hand_model``,
``--pose_model``, ``--face_model`` one's own MediaPipe ``.task`` files. An old name still
works, with a warning on stderr, until the release named in ``REMOVED_IN``.

Every command parses with absl (``cli``), which MediaPipe installs too: ``extract`` runs where
only NumPy, OpenCV and MediaPipe are. No JAX here, and absl only inside the functions.
"""

from __future__ import annotations

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
DEPRECATED = "Deprecated:"  # how --help marks an old name


def deprecation_warning(old: str) -> str:
    return (
        f"warning: --{old} is deprecated, use --{RENAMED[old]} (the old name goes in {REMOVED_IN})"
    )


def define_absl_old_names(*old_names: str, flag_values=None) -> None:
    """Each old name as an absl alias of its new flag (already defined), marked
    deprecated in ``--help``; ``warn_absl_old_names`` warns after parsing."""
    from absl import flags

    values = flags.FLAGS if flag_values is None else flag_values
    for old in old_names:
        flags.DEFINE_alias(old, RENAMED[old], flag_values=values)
        values[old].help = f"{DEPRECATED} use --{RENAMED[old]} (goes in {REMOVED_IN})."


def warn_absl_old_names(flag_values=None) -> None:
    """One warning on stderr per old name given on the command line."""
    from absl import flags

    values = flags.FLAGS if flag_values is None else flag_values
    given = [old for old in RENAMED if old in values and values[old].present]
    for old in given:
        if values[old].help.startswith(DEPRECATED):  # not a current flag of that name
            print(deprecation_warning(old), file=sys.stderr)
