"""TFDS builders: the processed layout and the synthetic generator round-trip through
array_record, bad samples are skipped, training data loads with source=tfds."""

import logging

import ml_collections
import numpy as np
import pytest

from whispersign_jax.data import sources, synthetic
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.tfds_builders import build as tfds_build
from whispersign_jax.data.tfds_builders import reading
from whispersign_jax.data.tfds_builders.synthetic_builder import SyntheticBuilderConfig
from whispersign_jax.vocab import Vocabulary

TINY = synthetic.SyntheticConfig(
    num_glosses=3, train_signers=2, val_signers=1, test_signers=1, samples_per_gloss_per_signer=2
)


def write_processed(root, config=TINY):
    """The processed layout of TINY, plus two bad training files."""
    names = synthetic.gloss_names(config)
    root.mkdir(parents=True)
    Vocabulary.from_names(names).save(root / "label_map.json")
    for split in SPLITS:
        (root / split / "features").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for index, sample in enumerate(synthetic.generate_split(config, split)):
            np.save(root / split / "features" / f"sample_{index:05d}.npy", sample.keypoints)
            np.save(root / split / "labels" / f"sample_{index:05d}.npy", sample.labels)
    nan = np.full((5, 42, 7), np.nan, np.float32)
    np.save(root / "train" / "features" / "sample_90000.npy", nan)
    np.save(root / "train" / "labels" / "sample_90000.npy", np.array([1]))
    np.save(root / "train" / "features" / "sample_90001.npy", np.zeros((5, 42, 7), np.float32))
    np.save(root / "train" / "labels" / "sample_90001.npy", np.array([len(names) + 1]))


def data_config(**fields):
    config = ml_collections.ConfigDict(dict(source="tfds", name="", tfds_dir="", dir=""))
    config.update(fields)
    return config


def test_processed_builder_round_trips_and_skips_bad_samples(tmp_path, caplog):
    write_processed(tmp_path / "manual")
    with caplog.at_level(logging.WARNING):
        builder = tfds_build.build(
            "whispersign_processed", str(tmp_path / "manual"), str(tmp_path / "tfds")
        )
    assert "train: skipped 2 of 14 samples" in caplog.text
    assert "sample_90000.npy: 1470 NaN" in caplog.text and "sample_90001.npy" in caplog.text
    assert builder.info.splits["train"].num_examples == 12

    vocabulary, splits = sources.load_splits(
        data_config(name="whispersign_processed", tfds_dir=str(tmp_path / "tfds"))
    )
    expected_vocabulary, expected = sources.load_splits(
        data_config(source="processed", dir=str(tmp_path / "manual"))
    )
    assert vocabulary == expected_vocabulary
    for split in SPLITS:
        assert len(splits[split]) == len(expected[split]) == synthetic.split_size(TINY, split)
        for got, want in zip(splits[split], expected[split], strict=True):
            np.testing.assert_array_equal(got.keypoints, want.keypoints)
            np.testing.assert_array_equal(got.labels, want.labels)
            assert not got.timed and not want.timed  # no gloss timing in the layout


def test_training_reads_an_array_record_dataset_by_position_with_a_cached_index(
    tmp_path, monkeypatch
):
    write_processed(tmp_path / "manual")
    tfds_build.build("whispersign_processed", str(tmp_path / "manual"), str(tmp_path / "tfds"))
    config = data_config(name="whispersign_processed", tfds_dir=str(tmp_path / "tfds"))
    _, splits = sources.load_splits(config)
    train = splits["train"]
    assert isinstance(train, reading.TfdsSplit) and len(train) == 12  # the build skipped 2 bad ones
    assert sorted(tmp_path.rglob("whispersign-index-*.npz"))  # cached beside the dataset

    def no_second_pass(self, split):
        raise AssertionError(f"the {split} index was built again")

    monkeypatch.setattr(reading.TfdsSplit, "_build_index", no_second_pass)
    _, again = sources.load_splits(config)
    assert again["train"].index.fingerprint() == train.index.fingerprint()
    np.testing.assert_array_equal(again["train"][5].keypoints, train[5].keypoints)


def test_synthetic_builder_matches_the_generator(tmp_path):
    config = SyntheticBuilderConfig(name="tiny", synthetic=TINY)
    builder = tfds_build.build("whispersign_synthetic", data_dir=str(tmp_path), config=config)
    label_map = builder.info.metadata["label_map"]
    assert label_map == {
        "<blank>": 0,
        **{n: i + 1 for i, n in enumerate(synthetic.gloss_names(TINY))},
    }
    test = builder.as_data_source("test")
    assert len(test) == synthetic.split_size(TINY, "test")
    for index in (0, len(test) - 1):
        sample = synthetic.generate_sample(TINY, "test", index)
        np.testing.assert_array_equal(test[index]["keypoints"], sample.keypoints)
        np.testing.assert_array_equal(test[index]["spans"], sample.spans)
        assert test[index]["origin"] == f"synthetic test {index}".encode()
    assert all(sample.timed for _, sample in reading._candidates(builder, "test"))


def test_tfds_source_errors_name_the_setting_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"config\.data\.name"):
        sources.load_splits(data_config())
    with pytest.raises(ValueError, match=r"not a TFDS builder of this project.*mp_data"):
        sources.load_splits(data_config(name="no_such_dataset"))
    with pytest.raises(FileNotFoundError, match=r"tfds_builders\.build --name mp_data"):
        sources.load_splits(data_config(name="mp_data", tfds_dir=str(tmp_path)))


def test_mp_data_builder_reads_the_fixture_split_by_recording(tmp_path, fixtures_dir):
    pytest.importorskip("whispersign_jax.data.prepare.mp_data")
    builder = tfds_build.build(
        "mp_data", str(fixtures_dir / "mp_data_asl" / "MP_Data"), str(tmp_path)
    )
    assert len(builder.info.metadata["label_map"]) == 17  # 16 glosses + blank
    counts = {split: builder.info.splits[split].num_examples for split in SPLITS}
    assert sum(counts.values()) == 320 and counts["train"] > counts["val"] > 0
    origins = {s: {e["origin"] for e in builder.as_data_source(s)} for s in SPLITS}
    assert not origins["train"] & origins["test"]


def test_a_builder_config_per_joint_set_records_the_set(tmp_path, fixtures_dir):
    builder = tfds_build.build(
        "mp_data/hands_pose", str(fixtures_dir / "mp_data_asl" / "MP_Data"), str(tmp_path)
    )
    assert builder.info.features["keypoints"].shape == (None, 55, 7)
    assert builder.info.metadata["keypoints"] == "hands_pose"
    config = data_config(name="mp_data/hands_pose", tfds_dir=str(tmp_path), keypoints="hands_pose")
    _, splits = sources.load_splits(config)
    assert sum(len(s) for s in splits.values()) == 320
    assert all(s.keypoints.shape[1:] == (55, 7) for s in splits["train"])
    config.keypoints = "hands"
    with pytest.raises(ValueError, match=(
        r"TFDS dataset mp_data/hands_pose holds hands_pose \(55 joints\) keypoints but "
        r"config\.data\.keypoints='hands': pass --config\.data\.keypoints=hands_pose"
    )):  # fmt: skip
        sources.load_splits(config)
    write_processed(tmp_path / "manual")  # a hands dataset (no keypoints.json: hands)
    refusal = (
        r"holds hands \(42 joints\) keypoints: build whispersign_processed/hands, not "
        r"whispersign_processed/hands_pose"
    )
    with pytest.raises(ValueError, match=refusal):
        tfds_build.build(
            "whispersign_processed/hands_pose", str(tmp_path / "manual"), str(tmp_path / "tfds")
        )
