"""A corpus on disk (ArrayRecord shards, index in memory) yields exactly the batches, the
preprocessing and the evaluation batches of the same clips held in memory (pytest -k corpus)."""

from __future__ import annotations

import logging
import shutil
import types

import ml_collections
import numpy as np
import pytest

from whispersign_jax.data import input_pipeline, sources
from whispersign_jax.data.augment import AugmentConfig
from whispersign_jax.data.batching import TrainBatches, eval_batches
from whispersign_jax.data.clips import ClipIndex
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.corpus.records import CorpusClip
from whispersign_jax.data.corpus.writer import CorpusWriter
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.data.synthetic import SyntheticConfig, generate_split, gloss_names
from whispersign_jax.runs.record import CheckpointRecord
from whispersign_jax.training import evaluator, resume

BUCKETS = (64, 128, 192)
SENTENCES = SyntheticConfig(
    num_glosses=6, mode="continuous", train_signers=2, val_signers=1, test_signers=1,
    continuous_samples_per_signer=8, min_glosses=1, max_glosses=3,
)  # fmt: skip


def assert_batches_equal(one: dict, two: dict, message: str = "") -> None:
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=f"{name} {message}")


@pytest.fixture(scope="module")
def synthetic_corpus(tmp_path_factory):
    """(in-memory splits, the same splits as a corpus of 5-clip shards)."""
    names = gloss_names(SENTENCES)
    splits = {split: generate_split(SENTENCES, split) for split in SPLITS}
    root = tmp_path_factory.mktemp("corpus")
    with CorpusWriter(root, "hands", clips_per_shard=5) as writer:
        for split, samples in splits.items():
            for i, s in enumerate(samples):
                glosses = tuple(names[label - 1] for label in s.labels)
                clip = CorpusClip(s.keypoints, glosses, f"{split} {i:05d}", spans=s.spans,
                                  signer=s.signer)  # fmt: skip
                assert writer.add(split, clip)
    return splits, Corpus(root)


def test_training_batches_from_disk_equal_the_in_memory_ones(synthetic_corpus):
    splits, corpus = synthetic_corpus
    train = corpus.split("train")
    assert len(train) == len(splits["train"]) and len(list(train.folder.glob("*.array_record"))) > 3
    assert train.fingerprint == ClipIndex.from_samples(splits["train"]).fingerprint()
    preprocessor = Preprocessor.fit((s.keypoints for s in splits["train"]), True, True)
    assert corpus.preprocessor(True, True) == preprocessor  # sums gathered while writing
    assert corpus.preprocessor(False, True) == Preprocessor.fit(
        (s.keypoints for s in splits["train"]), False, True
    )
    settings = dict(batch_size=4, buckets=BUCKETS, max_labels=3, seed=5,
                    augmentation=AugmentConfig(), window_frames=90, hop_frames=45,
                    preprocess=preprocessor)  # fmt: skip
    in_memory, on_disk = TrainBatches(splits["train"], **settings), TrainBatches(train, **settings)
    assert on_disk.steps_per_epoch == in_memory.steps_per_epoch
    for step in range(2 * in_memory.steps_per_epoch + 1):  # over an epoch boundary
        np.testing.assert_array_equal(on_disk.chosen(step), in_memory.chosen(step))
        assert_batches_equal(on_disk[step], in_memory[step], f"at step {step}")
    part = on_disk.rows(3, [2, 3])  # one process's rows: only those read, same padded length
    assert_batches_equal({k: v[2:] for k, v in part.items()},
                         {k: v[2:] for k, v in in_memory[3].items()})  # fmt: skip
    assert not part["sample_mask"][:2].any()


def test_each_epoch_is_one_permutation_computed_once(synthetic_corpus):
    _, corpus = synthetic_corpus
    batches = TrainBatches(corpus.split("train"), 4, BUCKETS, 3, seed=1)
    epoch = [batches.chosen(step) for step in range(batches.steps_per_epoch)]
    drawn = np.concatenate(epoch)
    assert len(set(drawn.tolist())) == len(drawn) == 4 * batches.steps_per_epoch
    assert set(batches._orders) == {0}  # one order for the whole epoch
    batches.chosen(batches.steps_per_epoch)
    batches.chosen(2 * batches.steps_per_epoch)
    assert set(batches._orders) == {1, 2}  # the two newest epochs


def test_evaluation_batches_from_disk_equal_the_in_memory_ones(synthetic_corpus):
    splits, corpus = synthetic_corpus
    val = corpus.split("val")
    pairs = zip(eval_batches(val, 4, BUCKETS, 3), eval_batches(splits["val"], 4, BUCKETS, 3),
                strict=True)  # fmt: skip
    for (disk_indices, disk), (memory_indices, memory) in pairs:
        np.testing.assert_array_equal(disk_indices, memory_indices)
        assert_batches_equal(disk, memory)
    for indices, part in eval_batches(val, 4, BUCKETS, 3, rows=[0, 1]):
        assert (
            part["sample_mask"][: min(2, len(indices))].all() and not part["sample_mask"][2:].any()
        )
        for position in indices:
            np.testing.assert_array_equal(
                val.index.labels(position), splits["val"][position].labels
            )


def damaged_copy(corpus: Corpus, folder, split: str):
    """A copy of ``corpus`` in ``folder`` with 2 KB of the first shard of ``split``
    overwritten; (the copy's root, that shard)."""
    shutil.copytree(corpus.root, folder)
    shard = sorted((folder / split).glob("*.array_record"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 2048] = b"\xff" * 2048
    shard.write_bytes(bytes(data))
    return folder, shard


def test_a_damaged_shard_empties_its_rows_with_a_count_and_training_goes_on(
    synthetic_corpus, tmp_path, caplog
):
    splits, corpus = synthetic_corpus
    damaged, shard = damaged_copy(corpus, tmp_path / "damaged", "train")
    batches = TrainBatches(Corpus(damaged).split("train"), 4, BUCKETS, 3, seed=0)
    intact = TrainBatches(splits["train"], 4, BUCKETS, 3, seed=0)
    with caplog.at_level(logging.WARNING):
        built = [batches[step] for step in range(batches.steps_per_epoch)]
    assert (
        batches.unreadable > 0
        and "cannot be read" in caplog.text
        and shard.parent.name in caplog.text
    )
    empty = sum(int((~b["sample_mask"]).sum()) for b in built)
    assert empty == batches.unreadable  # every unreadable clip left exactly its row empty
    for step, batch in enumerate(built):
        rows = batch["sample_mask"]
        np.testing.assert_array_equal(batch["keypoints"][rows], intact[step]["keypoints"][rows])


def test_training_reads_a_corpus_through_the_data_config(synthetic_corpus):
    splits, corpus = synthetic_corpus
    data = ml_collections.ConfigDict({
        "source": "corpus", "dir": str(corpus.root), "name": "", "keypoints": "hands",
        "normalize_hands": True, "standardize": True,
    })  # fmt: skip
    vocabulary, loaded = sources.load_splits(data)
    assert vocabulary.glosses == tuple(gloss_names(SENTENCES))
    assert {split: len(loaded[split]) for split in SPLITS} == {
        split: len(splits[split]) for split in SPLITS
    }
    expected = Preprocessor.fit((s.keypoints for s in splits["train"]), True, True)
    assert sources.fit_preprocessor(data, loaded["train"]) == expected
    data.keypoints = "hands_pose"
    with pytest.raises(
        ValueError, match=r"holds hands \(42 joints\).*--config.data.keypoints=hands"
    ):
        sources.load_splits(data)


def test_resume_refuses_a_checkpoint_trained_on_another_corpus():
    record = CheckpointRecord(stage="stage2", step=40, model_config={}, label_map={},
                              preprocessing={}, data_fingerprint="a" * 64)  # fmt: skip
    plan = types.SimpleNamespace(name="stage2", data_fingerprint="a" * 64)
    resume.refuse_other_data(plan, record)  # the same corpus
    resume.refuse_other_data(
        plan, CheckpointRecord.from_json({**record.to_json(), "data_fingerprint": None})
    )  # a record from before fingerprints
    plan.data_fingerprint = "b" * 64
    with pytest.raises(ValueError, match=r"step 40 was trained on another train split.*aaaaaaaaaaaa"
                       r" vs this run's bbbbbbbbbbbb.*new --workdir"):  # fmt: skip
        resume.refuse_other_data(plan, record)


def test_grain_worker_processes_build_the_batches_the_threads_build(synthetic_corpus):
    _, corpus = synthetic_corpus
    batches = TrainBatches(
        corpus.split("train"), 4, BUCKETS, 3, seed=2, augmentation=AugmentConfig()
    )
    threads = list(input_pipeline.train_batches(batches, 3, 9, process_index=1, process_count=2))
    grain = input_pipeline.grain_batches(batches, 3, 9, process_index=1, process_count=2, workers=2)
    built = list(grain)
    assert len(built) == len(threads) == 6
    for step, (one, two) in enumerate(zip(built, threads, strict=True), start=3):
        assert_batches_equal(one, two, f"at step {step}")
        assert one["sample_mask"][2:].all() and not one["sample_mask"][:2].any()


def test_evaluation_leaves_out_the_clips_of_a_damaged_shard_with_a_warning(
    synthetic_corpus, tmp_path, caplog
):
    _, corpus = synthetic_corpus
    damaged, _ = damaged_copy(corpus, tmp_path / "damaged", "val")
    val = Corpus(damaged).split("val")

    def perfect_step(variables, batch):  # make_eval_step's outputs, recognising every row
        return {"ids": batch["labels"], "lengths": batch["label_mask"].sum(axis=1),
                "top_glosses": np.zeros((len(batch["labels"]), 5), np.int32),
                "sample_mask": batch["sample_mask"]}  # fmt: skip

    with caplog.at_level(logging.WARNING):
        metrics = evaluator.evaluate_samples(perfect_step, None, val, 4, BUCKETS, 3)
    unreadable = caplog.text.count("cannot be read and is left out")
    assert 0 < unreadable < len(val)
    assert metrics["samples"] == len(val) - unreadable and metrics["accuracy"] == 1.0
