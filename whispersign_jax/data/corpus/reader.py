"""Reads a corpus: ``Corpus(root)`` loads the small files (``corpus.json``, label map, each
split's index); ``corpus.split(name)`` reads clips from the shards by position, on demand.

``root`` may be a local folder or any path ``etils.epath`` reads (``gs://bucket/corpus``
with gcsfs or TensorFlow installed); ArrayRecord reads ``gs://`` shards itself
(docs/scaling.md says what was verified)."""

from __future__ import annotations

import io
import json

import numpy as np
from etils import epath

from whispersign_jax.data.clips import ClipIndex, CorruptClipError
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus.records import clip_sample, decode_clip
from whispersign_jax.data.corpus.writer import CORPUS_FILE, FORMAT, SUMS_KEYS, VERSION
from whispersign_jax.data.normalize import FeatureSums, Preprocessor
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import joint_set
from whispersign_jax.vocab import LABEL_MAP_FILE, Vocabulary


class CorpusSplit:
    """One split: its ``index`` in memory, each clip read from its shard when asked for.
    Safe to read from several threads at once."""

    def __init__(self, corpus: Corpus, name: str):
        from array_record.python.array_record_data_source import ArrayRecordDataSource

        root, entry = corpus.root, corpus.meta["splits"][name]
        self.name, self.folder, self.vocabulary = name, root / name, corpus.vocabulary
        self.num_joints = joint_set(corpus.joint_set).num_joints
        self.fingerprint = entry["fingerprint"]
        # the train split's sums for each config.data.normalize_hands, gathered while writing
        self.feature_sums = corpus.feature_sums if name == "train" else None
        index_path = self.folder / entry["index"]
        with np.load(io.BytesIO(index_path.read_bytes()), allow_pickle=False) as columns:
            self.index = ClipIndex.from_columns(dict(columns))
            shard, offset = columns["shard"], columns["offset"]
        if self.index.fingerprint() != self.fingerprint or len(self.index) != entry["clips"]:
            raise ValueError(
                f"{index_path} does not match {root / CORPUS_FILE} (fingerprint or clip count): "
                "the corpus was changed after it was written; write it again."
            )
        paths = [self.folder / name for name in entry["shards"]]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"corpus split {name!r} lacks its shards {missing[:3]}: copy the whole corpus "
                "folder, or write it again."
            )
        self._source = ArrayRecordDataSource([str(path) for path in paths]) if paths else None
        sizes = np.bincount(shard, minlength=len(paths)) if len(shard) else np.zeros(0, int)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._positions = starts[shard] + offset if len(shard) else offset  # (N,) in the source
        if self._source is not None and len(self._source) != len(self.index):
            raise ValueError(
                f"corpus split {name!r}: its shards hold {len(self._source)} records but its "
                f"index {len(self.index)}; write the corpus again."
            )

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> Sample:
        try:
            clip = decode_clip(self._source[int(self._positions[position])])
        except (RuntimeError, ValueError) as error:  # a damaged chunk, a damaged record
            raise CorruptClipError(f"{self.folder}: clip {position}: {error}") from error
        return clip_sample(clip, self.vocabulary)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class Corpus:
    """A corpus written by ``CorpusWriter`` or the Beam pipeline at ``root``."""

    def __init__(self, root: str | epath.PathLike):
        self.root = epath.Path(root)
        path = self.root / CORPUS_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: {self.root} is not a corpus; write one with "
                "`whispersign-prepare --layout corpus` or convert a processed folder with "
                "`python -m whispersign_jax.data.corpus.convert`."
            )
        try:
            self.meta = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: not JSON ({error}); write the corpus again.") from error
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise ValueError(
                f"{path}: format {self.meta.get('format')!r} version {self.meta.get('version')}; "
                f"this version reads {FORMAT!r} version {VERSION}."
            )
        self.joint_set = joint_set(self.meta["joint_set"]).name
        label_map = self.root / LABEL_MAP_FILE
        try:
            names = json.loads(label_map.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{label_map}: not a readable label map ({error}).") from error
        self.vocabulary = Vocabulary.from_label_map(names, source=str(label_map))
        self._splits: dict[str, CorpusSplit] = {}

    def split(self, name: str) -> CorpusSplit:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        if name not in self._splits:
            self._splits[name] = CorpusSplit(self, name)
        return self._splits[name]

    def feature_sums(self, normalize_hands: bool) -> FeatureSums:
        """The train split's feature sums, gathered while writing."""
        return FeatureSums.from_dict(self.meta["feature_sums"][SUMS_KEYS[bool(normalize_hands)]])

    def preprocessor(self, normalize_hands: bool, standardize: bool) -> Preprocessor:
        """What ``Preprocessor.fit`` gives on the train split, from the stored sums."""
        if not standardize:
            return Preprocessor(normalize_hands=normalize_hands)
        return self.feature_sums(normalize_hands).preprocessor(normalize_hands)
