"""Writes a corpus one clip at a time, in bounded memory: records go straight to ArrayRecord
shards; only a small row per clip and the train split's feature sums are kept until
``finalize`` writes the index, the label map and ``corpus.json`` (the last file written, so an
interrupted write leaves any earlier corpus at the folder readable and whole).

``ShardWriter`` and ``finalize`` are the two halves that parallel writers share (``beam``): each
worker writes its own shards and rows; one step then finalizes them all.

The root may be a local folder or cloud storage (``gs://bucket/corpus``, through
``etils.epath``). ArrayRecord writes local files only, so a shard bound for cloud storage is
written in a local staging folder and copied up once complete.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Mapping

import numpy as np
from etils import epath

from whispersign_jax.data.clips import ClipIndex
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus.records import CorpusClip, encode_clip
from whispersign_jax.data.normalize import FeatureSums, normalize_hands
from whispersign_jax.keypoints import joint_set, validate_keypoints
from whispersign_jax.storage import is_remote
from whispersign_jax.vocab import LABEL_MAP_FILE, RESERVED_NAMES, Vocabulary

FORMAT, VERSION = "whispersign-corpus", 1
CORPUS_FILE, MANIFEST = "corpus.json", "manifest.csv"
SHARD_SUFFIX = ".array_record"
CLIPS_PER_SHARD = 1024  # ~100 MB shards of 60-frame hand clips
SHARD_OPTIONS = "group_size:1,zstd:1"  # one record per chunk: random access reads one clip
SUMS_KEYS = {False: "raw", True: "hands_normalized"}  # feature sums by config.data.normalize_hands


@dataclasses.dataclass(frozen=True, slots=True)
class ClipRow:
    """What the index keeps of one written clip."""

    origin: str
    recording: str
    glosses: tuple[str, ...]
    length: int
    timed: bool
    signer: int
    shard: str  # file name in the split's folder
    offset: int  # record number in the shard


def check_clip(clip: CorpusClip, keypoints: str) -> CorpusClip:
    """``clip`` with float32 keypoints, or a ValueError naming its origin and the problem."""
    expected_by = f"the corpus (--joint_set {keypoints})"
    checked = validate_keypoints(clip.keypoints, clip.origin, keypoints, expected_by)
    if not clip.glosses or any(not g or g in RESERVED_NAMES for g in clip.glosses):
        raise ValueError(f"{clip.origin}: glosses {list(clip.glosses)} are empty or reserved")
    if clip.spans is not None:
        spans = np.asarray(clip.spans)
        if spans.shape != (len(clip.glosses), 2):
            raise ValueError(
                f"{clip.origin}: spans of shape {spans.shape} for {len(clip.glosses)} glosses"
            )
    return dataclasses.replace(clip, keypoints=checked)


class ShardWriter:
    """One split's records in ``<folder>/<prefix>-<n>.array_record``, a new shard every
    ``clips_per_shard`` clips. A remote ``folder``'s shards are staged locally."""

    def __init__(self, folder: epath.PathLike, prefix: str, clips_per_shard: int = CLIPS_PER_SHARD):
        from array_record.python.array_record_module import ArrayRecordWriter

        self._open = ArrayRecordWriter
        self.folder, self.prefix, self.clips_per_shard = epath.Path(folder), prefix, clips_per_shard
        self.folder.mkdir(parents=True, exist_ok=True)
        self._staging = tempfile.mkdtemp(prefix="whispersign-") if is_remote(folder) else None
        self._writer, self._shard, self._offset, self._count = None, "", 0, 0

    def _written_at(self, shard: str) -> str:
        """Where ArrayRecord writes ``shard``: the folder, or the local staging folder."""
        return os.path.join(self._staging or self.folder, shard)

    def write(self, clip: CorpusClip) -> ClipRow:
        if self._writer is None or self._offset == self.clips_per_shard:
            self._finish_shard()
            self._shard = f"{self.prefix}-{self._count:05d}{SHARD_SUFFIX}"
            self._writer = self._open(self._written_at(self._shard), SHARD_OPTIONS)
            self._offset, self._count = 0, self._count + 1
        self._writer.write(encode_clip(clip))
        row = ClipRow(
            clip.origin, clip.recording, tuple(clip.glosses), len(clip.keypoints), clip.timed,
            int(clip.signer), self._shard, self._offset,
        )  # fmt: skip
        self._offset += 1
        return row

    def _finish_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        if self._staging:
            staged = epath.Path(self._written_at(self._shard))
            staged.copy(self.folder / self._shard, overwrite=True)
            staged.unlink()

    def close(self) -> None:
        self._finish_shard()
        if self._staging:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


def new_sums() -> dict[bool, FeatureSums]:
    """Empty feature sums for both values of ``config.data.normalize_hands``."""
    return {False: FeatureSums(), True: FeatureSums()}


def add_to_sums(sums: dict[bool, FeatureSums], keypoints: np.ndarray) -> None:
    """Adds one train clip's ``(T, J, 7)`` keypoints to both sums."""
    sums[False].add(keypoints)
    sums[True].add(normalize_hands(keypoints))


def _write_index(
    folder: epath.Path, rows: list[ClipRow], vocabulary: Vocabulary, token: str
) -> dict:
    """The split's index file and manifest; returns its entry of ``corpus.json``."""
    shards = sorted({row.shard for row in rows})
    shard_ids = {name: i for i, name in enumerate(shards)}
    index = ClipIndex.from_rows(
        [row.length for row in rows], [row.timed for row in rows], [row.signer for row in rows],
        [vocabulary.ids(list(row.glosses)) for row in rows],
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    index_file = f"index-{token}.npz"
    columns = io.BytesIO()
    np.savez(
        columns,
        **index.columns(),
        shard=np.asarray([shard_ids[row.shard] for row in rows], np.int32),
        offset=np.asarray([row.offset for row in rows], np.int64),
    )
    (folder / index_file).write_bytes(columns.getvalue())
    text = io.StringIO(newline="")
    manifest = csv.writer(text)
    manifest.writerow(("origin", "recording", "glosses"))
    for row in rows:
        manifest.writerow((row.origin, row.recording, " | ".join(row.glosses)))
    (folder / MANIFEST).write_text(text.getvalue(), encoding="utf-8")
    return {
        "clips": len(rows),
        "index": index_file,
        "shards": shards,
        "fingerprint": index.fingerprint(),
    }


def finalize(
    root: epath.PathLike,
    rows: Mapping[str, Iterable[ClipRow]],
    sums: Mapping[bool, FeatureSums],
    keypoints: str,
) -> Vocabulary:
    """Writes the index of every split (rows in the order of their origins), the label map
    (sorted gloss names of all splits) and ``corpus.json``; then removes the shards and index
    files of an earlier corpus at ``root`` that the new one does not name."""
    root = epath.Path(root)
    ordered = {split: sorted(rows.get(split, ()), key=lambda r: r.origin) for split in SPLITS}
    for split, split_rows in ordered.items():
        origins = [row.origin for row in split_rows]
        repeated = sorted({o for o, n in itertools.pairwise(origins) if o == n})
        if repeated:
            raise ValueError(
                f"{split}: clips share the origins {repeated[:5]}; origins must differ"
            )
    names = sorted(
        {g for split_rows in ordered.values() for row in split_rows for g in row.glosses}
    )
    if not names:
        raise ValueError(f"{root}: no clip was written, so there is no corpus to finish")
    vocabulary = Vocabulary.from_names(names)
    token = secrets.token_hex(4)
    splits = {s: _write_index(root / s, r, vocabulary, token) for s, r in ordered.items()}
    (root / LABEL_MAP_FILE).write_text(vocabulary.label_map_json(), encoding="utf-8")
    corpus = {
        "format": FORMAT,
        "version": VERSION,
        "joint_set": joint_set(keypoints).name,
        "splits": splits,
        "feature_sums": {SUMS_KEYS[key]: value.to_dict() for key, value in sums.items()},
    }
    text = json.dumps(corpus, indent=1, allow_nan=False) + "\n"
    if is_remote(root):  # an object is replaced whole, never seen half written
        (root / CORPUS_FILE).write_text(text, encoding="utf-8")
    else:
        temporary = root / f".{CORPUS_FILE}.{token}"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, root / CORPUS_FILE)
    for split, entry in splits.items():
        keep = {entry["index"], *entry["shards"]}
        for path in (root / split).glob("*"):
            stale = path.suffix == SHARD_SUFFIX or path.name.startswith("index-")
            if stale and path.name not in keep:
                path.unlink()
    return vocabulary


def existing_corpus(root: epath.PathLike) -> bool:
    return (epath.Path(root) / CORPUS_FILE).is_file()


class CorpusWriter:
    """Writes a corpus at ``root`` one clip at a time (``add``); ``close`` finalizes it.

    A clip that fails its checks is skipped and listed in ``failures`` with the reason. An
    existing corpus at ``root`` is refused unless ``overwrite``; it stays readable until the
    new one is finalized.
    """

    def __init__(
        self,
        root: epath.PathLike,
        keypoints: str,
        overwrite: bool = False,
        clips_per_shard: int = CLIPS_PER_SHARD,
        prefix: str | None = None,
    ):
        self.root, self.keypoints = epath.Path(root), joint_set(keypoints).name
        if existing_corpus(self.root) and not overwrite:
            raise FileExistsError(
                f"{self.root} already holds a corpus ({CORPUS_FILE}); choose an empty folder "
                "or pass --overwrite to replace it."
            )
        self.prefix = prefix or f"part-{secrets.token_hex(4)}"
        self.clips_per_shard = clips_per_shard
        self.rows: dict[str, list[ClipRow]] = {split: [] for split in SPLITS}
        self.sums = new_sums()
        self.failures: list[tuple[str, str]] = []
        self._shards: dict[str, ShardWriter] = {}

    def add(self, split: str, clip: CorpusClip) -> bool:
        """Writes ``clip`` into ``split``; False (and a failure) when it fails its checks."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
        try:
            clip = check_clip(clip, self.keypoints)
        except ValueError as error:
            self.failures.append((clip.origin, str(error)))
            return False
        if split not in self._shards:
            folder = self.root / split
            self._shards[split] = ShardWriter(folder, self.prefix, self.clips_per_shard)
        self.rows[split].append(self._shards[split].write(clip))
        if split == "train":
            add_to_sums(self.sums, clip.keypoints)
        return True

    def close(self) -> Vocabulary:
        """Closes the shards and finalizes the corpus; returns its label map."""
        for shard in self._shards.values():
            shard.close()
        return finalize(self.root, self.rows, self.sums, self.keypoints)

    def __enter__(self) -> CorpusWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:  # the shards written so far stay on disk; no corpus.json names them
            for shard in self._shards.values():
                shard.close()
