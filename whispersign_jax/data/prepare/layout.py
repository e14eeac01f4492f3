"""Writes the processed layout of DESIGN.md section 1, which `data.sources` reads back.

```
<output_dir>/{train,val,test}/features/sample_00000.npy   (T, 42, 7) float32
<output_dir>/{train,val,test}/labels/sample_00000.npy     (L,) int64
<output_dir>/{train,val,test}/manifest.csv                sample, recording, origin, glosses
<output_dir>/label_map.json                               {"<blank>": 0, gloss: 1..N}
```
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from whispersign_jax.data.prepare.common import SourceSample
from whispersign_jax.data.prepare.splitting import SPLITS
from whispersign_jax.keypoints import validate_keypoints
from whispersign_jax.vocab import Vocabulary


def sample_name(index: int) -> str:
    return f"sample_{index:05d}.npy"


def _refuse_existing(output_dir: Path, overwrite: bool) -> None:
    existing = [
        path
        for split in SPLITS
        for folder in ("features", "labels")
        for path in (output_dir / split / folder).glob("sample_*.npy")
    ]
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds a processed dataset ({len(existing)} sample files); "
            "choose an empty folder or pass overwrite=True (--overwrite) to replace it."
        )
    for path in existing:
        path.unlink()


def write_processed(
    splits: Mapping[str, Sequence[SourceSample]],
    output_dir: str | Path,
    overwrite: bool = False,
) -> Vocabulary:
    """Writes `splits` ({"train", "val", "test"} -> samples) and returns the label map.

    Gloss ids follow the sorted gloss names of all splits, so the same data always gets the
    same label map. Samples keep their order; a manifest per split records where each came from.
    """
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"write_processed: unknown split names {sorted(unknown)}; use {SPLITS}")
    names = sorted({g for samples in splits.values() for s in samples for g in s.glosses})
    if not names:
        raise ValueError(f"write_processed: nothing to write to {output_dir}, no samples given")
    vocabulary = Vocabulary.from_names(names)
    output_dir = Path(output_dir)
    _refuse_existing(output_dir, overwrite)
    for split in SPLITS:
        features_dir, labels_dir = output_dir / split / "features", output_dir / split / "labels"
        features_dir.mkdir(parents=True, exist_ok=True)
        labels_dir.mkdir(parents=True, exist_ok=True)
        with open(output_dir / split / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            manifest = csv.writer(f)
            manifest.writerow(["sample", "recording", "origin", "glosses"])
            for index, sample in enumerate(splits.get(split, ())):
                keypoints = validate_keypoints(sample.keypoints, sample.origin)
                labels = np.asarray(vocabulary.ids(list(sample.glosses)), np.int64)  # (L,)
                np.save(features_dir / sample_name(index), keypoints, allow_pickle=False)
                np.save(labels_dir / sample_name(index), labels, allow_pickle=False)
                manifest.writerow(
                    [
                        sample_name(index),
                        sample.recording,
                        sample.origin,
                        " | ".join(sample.glosses),
                    ]
                )
    vocabulary.save(output_dir / "label_map.json")
    return vocabulary
