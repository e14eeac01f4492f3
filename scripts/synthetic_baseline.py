"""Difficulty check of the synthetic dataset: nearest class mean of time-averaged keypoints.

    python scripts/synthetic_baseline.py [--seed 0]

Averages every sample's (T, 42, 7) keypoints over time, takes the mean of those vectors per
gloss on the train split and classifies each test sample by the nearest mean (Euclidean).
Order-blind, so it must stay far below what a sequence model reaches. Prints one JSON line.
"""

from __future__ import annotations

import argparse

import numpy as np

from whispersign_jax.cli import strict_json
from whispersign_jax.data import synthetic


def _time_averages(samples: list[synthetic.Sample]) -> tuple[np.ndarray, np.ndarray]:
    """(samples, 42 * 7) time-averaged features and (samples,) gloss ids."""
    features = np.stack([sample.keypoints.mean(axis=0).reshape(-1) for sample in samples])
    labels = np.array([sample.labels[0] for sample in samples])
    return features, labels


def nearest_class_mean_baseline(config: synthetic.SyntheticConfig) -> dict[str, object]:
    """Test accuracy of the nearest-class-mean classifier on time-averaged features."""
    if config.mode != "isolated":
        raise ValueError("the baseline needs isolated samples (one gloss each)")
    train_features, train_labels = _time_averages(synthetic.generate_split(config, "train"))
    test_features, test_labels = _time_averages(synthetic.generate_split(config, "test"))
    classes = np.unique(train_labels)
    means = np.stack([train_features[train_labels == label].mean(axis=0) for label in classes])
    distances = np.linalg.norm(test_features[:, None] - means[None], axis=-1)  # (test, classes)
    predictions = classes[np.argmin(distances, axis=1)]
    return {
        "baseline": "nearest_class_mean_time_average",
        "train_samples": len(train_labels),
        "test_samples": len(test_labels),
        "test_accuracy": round(float(np.mean(predictions == test_labels)), 4),
        "chance": round(1.0 / config.num_glosses, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="SyntheticConfig.seed")
    args = parser.parse_args()
    print(strict_json.dumps(nearest_class_mean_baseline(synthetic.SyntheticConfig(seed=args.seed))))


if __name__ == "__main__":
    main()
