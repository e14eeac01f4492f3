"""The Beam pipeline writes the corpus that one process writes: on the DirectRunner with 2
worker processes (synthetic and processed jobs), and in memory where a test stands in for
MediaPipe (videos); bad inputs go to failures.csv and the rest is written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from corpus_checks import (
    assert_same_corpus,
    corrupt,
    failures,
    fake_extractor,
    tiny_processed,
    video_folder,
)

from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus import beam
from whispersign_jax.data.corpus.convert import convert_processed
from whispersign_jax.data.corpus.jobs import (
    ClipMaker,
    synthetic_config,
    synthetic_counts,
    synthetic_jobs,
    write_jobs,
)
from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.corpus.writer import CorpusWriter
from whispersign_jax.data.prepare.cli import main as prepare

TWO_PROCESSES = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
IN_MEMORY = ["--direct_num_workers=1", "--direct_running_mode=in_memory"]


def test_beam_with_two_processes_writes_the_synthetic_corpus_of_one_process(tmp_path):
    config = synthetic_config(26)
    counts = synthetic_counts(config, 26)
    assert counts == {"train": 16, "val": 4, "test": 6}
    jobs = synthetic_jobs(config, counts)
    maker = ClipMaker("hands", synthetic=config)
    with CorpusWriter(tmp_path / "one", "hands", clips_per_shard=4) as writer:
        write_jobs(jobs, writer, maker)
    start = time.perf_counter()
    written = beam.run_pipeline(
        jobs, maker, tmp_path / "beam", clips_per_shard=4, beam_args=TWO_PROCESSES
    )
    print(f"2-process DirectRunner: {time.perf_counter() - start:.1f} s for 26 clips")
    assert written == {"clips_train": 16, "clips_val": 4, "clips_test": 6, "failures": 0}
    assert_same_corpus(tmp_path / "one", tmp_path / "beam")
    shards = {
        path.name.rsplit("-", 1)[0] for path in (tmp_path / "beam/train").glob("*.array_record")
    }
    assert len(shards) >= 2  # bundles write shards of their own
    assert Corpus(tmp_path / "beam").split("train")[0].timed  # synthetic timing is kept
    assert failures(tmp_path / "beam") == {}


def test_beam_with_two_processes_converts_a_processed_folder_like_one_process(tmp_path):
    processed = tiny_processed(tmp_path / "processed")
    corrupt(processed / "val" / "features" / "sample_00002.npy")
    convert_processed(processed, tmp_path / "one")
    jobs = beam.processed_jobs(processed)
    maker = ClipMaker("hands", processed_root=str(processed))
    written = beam.run_pipeline(jobs, maker, tmp_path / "beam", beam_args=TWO_PROCESSES)
    assert written == {"clips_train": 8, "clips_val": 3, "clips_test": 4, "failures": 1}
    assert_same_corpus(tmp_path / "one", tmp_path / "beam")
    reasons = failures(tmp_path / "beam")
    assert reasons == failures(tmp_path / "one")
    assert "truncated or corrupt" in reasons["val/features/sample_00002.npy"]


def test_beam_video_source_equals_prepare_and_reports_missing_and_broken_videos(
    tmp_path, monkeypatch, capsys
):
    fake_extractor(monkeypatch)  # in this process only: the in-memory runner
    data = video_folder(tmp_path / "videos", broken=True)
    argv = ["--data_dir", str(data), "--label_csv", "labels.csv", "--backend", "legacy"]
    assert prepare(["--format", "video", *argv, "--output_dir", str(tmp_path / "one"),
                    "--layout", "corpus", "--workers", "1"]) == 0  # fmt: skip
    beam_argv = ["--source", "video", *argv, "--output_dir", str(tmp_path / "beam"), *IN_MEMORY]
    assert beam.main(beam_argv) == 0
    assert "wrote train 10, val 2, test 1 clips (hands keypoints)" in capsys.readouterr().out
    assert_same_corpus(tmp_path / "one", tmp_path / "beam")
    reasons = failures(tmp_path / "beam")
    assert reasons == failures(tmp_path / "one")
    assert "not found" in reasons[f"{data / 'labels.csv'}:15"]  # missing.mp4
    assert "no hand detected" in reasons[f"{data / 'labels.csv'}:16"]  # broken.mp4


def kaggle_folder(root: Path) -> Path:
    """`video_folder`'s videos in the Kaggle layout: videos/ + label.csv (ID, VIDEO, LABEL)."""
    videos = video_folder(root / "videos", broken=True)
    lines = (videos / "labels.csv").read_text().splitlines()[1:]
    (videos / "labels.csv").unlink()
    rows = [f"{index},{line}" for index, line in enumerate(lines, start=1)]
    (root / "label.csv").write_text("\n".join(["ID,VIDEO,LABEL", *rows]) + "\n")
    return root


def test_beam_kaggle_source_equals_prepare(tmp_path, monkeypatch, capsys):
    fake_extractor(monkeypatch)
    data = kaggle_folder(tmp_path / "vsl")
    argv = ["--data_dir", str(data), "--backend", "legacy"]
    assert prepare(["--format", "kaggle", *argv, "--output_dir", str(tmp_path / "one"),
                    "--layout", "corpus", "--workers", "1"]) == 0  # fmt: skip
    beam_argv = ["--source", "kaggle", *argv, "--output_dir", str(tmp_path / "beam"), *IN_MEMORY]
    assert beam.main(beam_argv) == 0
    assert "wrote train 10, val 2, test 1 clips (hands keypoints)" in capsys.readouterr().out
    assert_same_corpus(tmp_path / "one", tmp_path / "beam")
    reasons = failures(tmp_path / "beam")
    assert reasons == failures(tmp_path / "one")
    assert "no hand detected" in reasons[f"{data / 'label.csv'}:16"]  # broken.mp4
    with pytest.raises(SystemExit) as exit_:
        beam.main(["--source", "kaggle", "--label_csv", "x.csv", *argv[:2], "--output_dir", "x"])
    assert exit_.value.code == 2
    assert "--label_csv does not apply to --source kaggle" in capsys.readouterr().err


def test_beam_command_refuses_a_corpus_and_flags_of_another_source(tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["--source", "synthetic", "--clips", "5", "--output_dir", str(out), *IN_MEMORY]
    assert beam.main(argv) == 0
    assert "wrote train 4, val 0, test 1 clips" in capsys.readouterr().out
    assert sum(len(Corpus(out).split(split)) for split in SPLITS) == 5
    assert beam.main(argv) == 2
    assert "already holds a corpus" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        beam.main(["--source", "processed", "--clips", "5", "--output_dir", str(out)])
    assert exit_.value.code == 2
    assert "--clips does not apply to --source processed" in capsys.readouterr().err


def test_beam_on_the_real_fixture_equals_the_conversion(tmp_path, fixtures_dir):
    processed = tmp_path / "processed"
    data = fixtures_dir / "mp_data_asl"
    assert prepare(["--format", "mp_data", "--data_dir", str(data),
                    "--output_dir", str(processed)]) == 0  # fmt: skip
    convert_processed(processed, tmp_path / "one")
    argv = ["--source", "processed", "--processed", str(processed)]
    assert beam.main([*argv, "--output_dir", str(tmp_path / "beam"), *IN_MEMORY]) == 0
    assert_same_corpus(tmp_path / "one", tmp_path / "beam")
