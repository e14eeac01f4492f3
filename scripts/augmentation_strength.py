"""How strong each augmentation setting is on a dataset, in the data's own units.

    python scripts/augmentation_strength.py --data_dir DIR [--split train] [--seed 0]

Reads a processed folder (scripts/prepare_vsl_data.py) and prints one JSON line per setting
compared in docs/design.md ("Augmentation and dropout: why these values"):
- ``noise_std``: as a share of the median 2-D finger-bone length of the present hands;
- ``time_jitter``: the relative RMS change of the velocity features it causes (speed 1.0,
  nothing else) and the share of resampled frame steps whose local speed leaves [0.5, 1.5];
- ``time_mask_frames``: the mean share of a clip's frames one masked segment removes;
- ``joint_mask_prob``: masked joints per clip and the chance that one of the ten fingertips
  is among them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.cli import strict_json
from whispersign_jax.data import augment
from whispersign_jax.data.processed import load_vocabulary
from whispersign_jax.data.sources import load_processed_split

FINGERTIPS = 10  # two hands x five


def bone_length(clips: list[np.ndarray]) -> float:
    """Median 2-D length of a hand bone over the present hands of ``clips``."""
    parents, children = np.array(kp.HAND_BONES).T
    lengths = []
    for clip in clips:
        hands = clip.reshape(len(clip), 2, kp.JOINTS_PER_HAND, kp.NUM_FEATURES)
        present = hands[:, :, 0, kp.CONFIDENCE] > 0  # (frames, hands)
        bones = hands[:, :, children, :2] - hands[:, :, parents, :2]  # (frames, hands, bones, xy)
        lengths.append(np.linalg.norm(bones, axis=-1)[present].ravel())
    return float(np.median(np.concatenate(lengths)))


def jitter_effect(samples, jitter: float, rng: np.random.Generator) -> dict[str, float]:
    """Velocity change and local speed spread that ``jitter`` alone causes."""
    changes, references, odd_steps, steps = 0.0, 0.0, 0, 0
    for sample in samples:
        frames = len(sample.keypoints)
        plain = augment.change_speed(sample, 1.0).keypoints
        jittered = augment.change_speed(sample, 1.0, jitter, rng).keypoints
        present = (plain[..., kp.CONFIDENCE] > 0) & (jittered[..., kp.CONFIDENCE] > 0)
        changes += np.square(jittered[..., kp.VELOCITY] - plain[..., kp.VELOCITY])[present].sum()
        references += np.square(plain[..., kp.VELOCITY])[present].sum()
        times = np.sort(np.linspace(0, frames - 1, frames) + rng.uniform(-jitter, jitter, frames))
        local_speed = np.diff(np.clip(times, 0, frames - 1))  # source frames per output frame
        odd_steps += int(np.sum((local_speed < 0.5) | (local_speed > 1.5)))
        steps += frames - 1
    return {
        "velocity_rms_change": float(np.sqrt(changes / max(references, 1e-12))),
        "steps_outside_half_to_1.5x_speed": odd_steps / max(steps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="processed folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = Path(args.data_dir)
    samples = load_processed_split(root, args.split, load_vocabulary(root))
    clips = [sample.keypoints for sample in samples]
    rng = np.random.default_rng(args.seed)
    bone = bone_length(clips)
    mean_frames = float(np.mean([len(clip) for clip in clips]))
    print(strict_json.dumps({"clips": len(clips), "mean_frames": mean_frames, "median_bone": bone}))
    for noise_std in (0.002, 0.005):
        print(strict_json.dumps({"noise_std": noise_std, "share_of_bone": noise_std / bone}))
    for jitter in (0.3, 2.0):
        print(strict_json.dumps({"time_jitter": jitter, **jitter_effect(samples, jitter, rng)}))
    for frames in (6, 10):
        share = np.mean([min(frames / 2, len(clip)) / len(clip) for clip in clips])
        print(strict_json.dumps({"time_mask_frames": frames, "mean_share_masked": float(share)}))
    for prob in (0.03, 0.15):
        fingertip = 1 - (1 - prob) ** FINGERTIPS
        print(
            strict_json.dumps(
                {"joint_mask_prob": prob, "joints_masked": prob * kp.NUM_JOINTS,
                 "p_a_fingertip_masked": fingertip}
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()
