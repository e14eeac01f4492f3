"""Preparing a corpus in one process: `whispersign-prepare --layout corpus`, the conversion of
a processed folder, and memory that stays flat however many clips are written."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import psutil
from corpus_checks import (
    assert_same_corpus,
    corrupt,
    failures,
    fake_extractor,
    manifest,
    mp_data_folder,
    tiny_processed,
    video_folder,
)

from whispersign_jax.data import synthetic
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus import convert
from whispersign_jax.data.corpus.jobs import (
    ClipJob,
    ClipMaker,
    synthetic_config,
    synthetic_counts,
    synthetic_jobs,
    write_jobs,
)
from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.corpus.records import CorpusClip
from whispersign_jax.data.corpus.writer import CorpusWriter
from whispersign_jax.data.prepare.cli import main as prepare
from whispersign_jax.data.prepare.common import SourceSample
from whispersign_jax.data.processed import load_vocabulary, read_candidates
from whispersign_jax.data.validation import check_sample


def by_original_origin(converted, processed) -> dict[str, dict[str, object]]:
    """split -> {origin in the raw dataset: sample} of a corpus converted from ``processed``."""
    corpus, found = Corpus(converted), {}
    for split in SPLITS:
        # The processed manifest names each sample file's raw origin.
        raw = {row[0]: row[2] for row in manifest(processed, split)}
        rows = manifest(converted, split)
        found[split] = {
            raw[origin.rsplit("/", 1)[-1]]: corpus.split(split)[i]
            for i, (origin, _, _) in enumerate(rows)
        }
    return found


def assert_same_clips(corpus_root, converted, processed) -> None:
    """The corpus written by `--layout corpus` holds the clips of the converted processed
    output, split alike, with the same label map and feature sums."""
    corpus = Corpus(corpus_root)
    assert corpus.vocabulary.label_map() == Corpus(converted).vocabulary.label_map()
    expected = by_original_origin(converted, processed)
    for split in SPLITS:
        rows = manifest(corpus_root, split)
        assert sorted(origin for origin, _, _ in rows) == sorted(expected[split]), split
        for i, (origin, _, _) in enumerate(rows):
            sample, other = corpus.split(split)[i], expected[split][origin]
            np.testing.assert_array_equal(sample.keypoints, other.keypoints)
            np.testing.assert_array_equal(sample.labels, other.labels)
    for normalized in (False, True):
        sums, other = corpus.feature_sums(normalized), Corpus(converted).feature_sums(normalized)
        assert sums.count == other.count
        np.testing.assert_allclose(sums.total, other.total, rtol=1e-12)


def test_layout_corpus_equals_the_conversion_of_the_processed_layout(tmp_path, capsys):
    data = mp_data_folder(tmp_path / "MP_Data")
    np.save(data / "b" / "3" / "2.npy", np.full(126, np.nan))
    argv = ["--format", "mp_data", "--data_dir", str(data), "--split_fractions", "0.6,0.2,0.2"]
    processed, corpus = tmp_path / "processed", tmp_path / "corpus"
    assert prepare([*argv, "--output_dir", str(processed)]) == 0
    printed_processed = capsys.readouterr().out
    layout = ["--layout", "corpus", "--clips_per_shard", "3"]
    assert prepare([*argv, "--output_dir", str(corpus), *layout]) == 0
    printed = capsys.readouterr()
    assert "mp_data: 14 ok, 1 skipped (1 x" in printed.out
    assert "wrote train 8, val 3, test 3 samples of 3 glosses" in printed.out
    assert printed.out.splitlines()[0] == printed_processed.splitlines()[0]  # the summary
    assert list(failures(corpus)) == [str(data / "b" / "3")]
    assert "NaN or infinite values" in failures(corpus)[str(data / "b" / "3")]

    converted = tmp_path / "converted"
    assert convert.main(["--processed", str(processed), "--output", str(converted)]) == 0
    assert_same_clips(corpus, converted, processed)
    assert prepare([*argv, "--output_dir", str(corpus), *layout]) == 2  # a corpus is there
    assert "already holds a corpus" in capsys.readouterr().err


def test_keypoint_formats_reach_the_corpus_one_clip_at_a_time(tmp_path, monkeypatch):
    """`--layout corpus` on MP_Data (like huggingface and pose: `DatasetFormat.stream`) never
    holds more than the clip being written."""
    data = mp_data_folder(tmp_path / "MP_Data")
    held = []
    add = CorpusWriter.add

    def counting_add(self, split, clip):
        held.append(sum(isinstance(o, SourceSample) for o in gc.get_objects()))
        return add(self, split, clip)

    monkeypatch.setattr(CorpusWriter, "add", counting_add)
    argv = ["--format", "mp_data", "--data_dir", str(data), "--layout", "corpus"]
    assert prepare([*argv, "--output_dir", str(tmp_path / "corpus")]) == 0
    assert len(held) == 15 and max(held) == 1
    assert sum(len(Corpus(tmp_path / "corpus").split(s)) for s in SPLITS) == 15


def test_video_layout_corpus_streams_and_equals_the_processed_layout(tmp_path, monkeypatch):
    fake_extractor(monkeypatch)
    data = video_folder(tmp_path / "videos")
    argv = ["--format", "video", "--data_dir", str(data), "--label_csv", "labels.csv"]
    argv += ["--workers", "1", "--backend", "legacy"]
    processed, corpus = tmp_path / "processed", tmp_path / "corpus"
    assert prepare([*argv, "--output_dir", str(processed)]) == 0
    assert prepare([*argv, "--output_dir", str(corpus), "--layout", "corpus"]) == 0
    converted = tmp_path / "converted"
    assert convert.main(["--processed", str(processed), "--output", str(converted)]) == 0
    assert_same_clips(corpus, converted, processed)
    assert any("missing.mp4" in reason for reason in failures(corpus).values())

    broken = video_folder(tmp_path / "broken", broken=True)
    argv[3] = str(broken)
    assert prepare([*argv, "--output_dir", str(tmp_path / "out"), "--layout", "corpus"]) == 0
    reasons = failures(tmp_path / "out")
    assert "no hand detected" in reasons[f"{broken / 'labels.csv'}:16"]
    assert sum(len(Corpus(tmp_path / "out").split(s)) for s in SPLITS) == 13


def test_conversion_round_trips_every_clip_and_skips_bad_files(tmp_path, capsys):
    processed = tiny_processed(tmp_path / "processed")
    corrupt(processed / "train" / "features" / "sample_00003.npy")
    np.save(processed / "val" / "labels" / "sample_00001.npy", np.array([9]))  # no such gloss
    out = tmp_path / "corpus"
    argv = ["--processed", str(processed), "--output", str(out), "--clips_per_shard", "3"]
    assert convert.main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote train 7, val 3, test 4 clips of 4 glosses (hands keypoints)" in printed
    assert "; 2 skipped, listed in" in printed
    reasons = failures(out)
    assert sorted(reasons) == ["train/features/sample_00003.npy", "val/features/sample_00001.npy"]
    assert "truncated or corrupt" in reasons["train/features/sample_00003.npy"]
    assert "not gloss ids 1..4" in reasons["val/features/sample_00001.npy"]

    corpus, vocabulary = Corpus(out), load_vocabulary(processed)
    assert corpus.vocabulary.label_map() == vocabulary.label_map()
    for split in SPLITS:
        expected = []
        for origin, sample in read_candidates(processed, split):
            try:
                expected.append((origin, check_sample(sample, vocabulary, origin, "hands")))
            except ValueError:
                continue
        written = corpus.split(split)
        assert len(written) == len(expected)
        recordings = {row[0]: row[1] for row in manifest(processed, split)}
        for position, (origin, sample) in enumerate(expected):  # the processed order
            clip = written[position]
            for field in ("keypoints", "labels", "spans"):
                np.testing.assert_array_equal(getattr(clip, field), getattr(sample, field))
            assert (clip.signer, clip.timed) == (sample.signer, sample.timed) == (-1, False)
            row = manifest(out, split)[position]
            assert row[0] == f"{split}/features/{origin.rsplit('/', 1)[-1]}"
            assert row[1] == recordings[origin.rsplit("/", 1)[-1]]

    assert convert.main(argv) == 2  # the corpus is there
    assert "already holds a corpus" in capsys.readouterr().err
    assert convert.main([*argv, "--overwrite"]) == 0
    assert convert.main(["--processed", str(tmp_path / "none"), "--output", str(out)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_jobs_made_in_worker_processes_write_the_corpus_of_one_process(tmp_path):
    config = synthetic_config(13)
    jobs = synthetic_jobs(config, synthetic_counts(config, 13))
    jobs.insert(3, ClipJob("synthetic", "synthetic/val/99999999", split="val", index=99999999))
    maker = ClipMaker("hands", synthetic=config)
    for workers in (1, 2):
        with CorpusWriter(tmp_path / str(workers), "hands") as writer:
            write_jobs(jobs, writer, maker, workers=workers)
        assert [origin for origin, _ in writer.failures] == ["synthetic/val/99999999"]
        assert "out of range" in writer.failures[0][1]
    assert_same_corpus(tmp_path / "1", tmp_path / "2")


FRAMES, CLIPS = 300, 2000
MARGIN_MB = 32  # see test_memory_stays_flat_while_writing_a_corpus


def big_clips(count: int):
    """``count`` clips of 300 frames (~345 KiB each), every one a fresh array."""
    config = dataclasses.replace(synthetic.SyntheticConfig(), num_glosses=4, train_signers=1)
    bases = [synthetic.generate_sample(config, "train", i).keypoints for i in range(4)]
    rng = np.random.default_rng(0)
    for index in range(count):
        keypoints = np.resize(bases[index % 4], (FRAMES, *bases[0].shape[1:]))  # (T, J, 7)
        present = keypoints[..., 6:7] > 0
        keypoints[..., :3] += rng.normal(0, 1e-3, (FRAMES, 42, 3)).astype(np.float32) * present
        split = "train" if index % 10 == 0 else SPLITS[1 + index % 2]
        yield split, CorpusClip(keypoints, (f"gloss {index % 5}",), f"clip {index:05d}")


def resident_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def test_memory_stays_flat_while_writing_a_corpus(tmp_path):
    """2,000 clips of 300 frames are ~690 MB of keypoints; ~500 MB of them come after the
    500th clip. The writer keeps a small row per clip (~0.2 MB for all of them), so RSS may
    only grow by what the allocator keeps around the shard writers: measured ~14 MB on this
    2-core machine (a plateau: ~+11 MB over 8,000 clips). The margin, 32 MB, is ~6% of the
    data written meanwhile: a writer that kept one clip in 16 fails."""
    samples = {}
    with CorpusWriter(tmp_path / "corpus", "hands", clips_per_shard=256) as writer:
        for index, (split, clip) in enumerate(big_clips(CLIPS), start=1):
            assert writer.add(split, clip)
            if index % 250 == 0:
                samples[index] = resident_mb()
    growth = samples[CLIPS] - samples[500]
    data_mb = (CLIPS - 500) * FRAMES * 42 * 7 * 4 / 2**20
    print(f"RSS MB by clip {samples}; growth {growth:.1f} MB after 500 of {data_mb:.0f} MB")
    assert growth < MARGIN_MB, samples
    assert sum(len(Corpus(tmp_path / "corpus").split(s)) for s in SPLITS) == CLIPS
