"""A corpus written to cloud storage (``gs://``, a local stand-in: ``tests/fake_cloud.py``)
holds what the same preparation writes to a local folder."""

from __future__ import annotations

from corpus_checks import assert_same_corpus, failures, mp_data_folder
from fake_cloud import fake_gcs

from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.prepare.cli import main as prepare


def test_corpus_prepared_to_gcs_equals_the_local_corpus(tmp_path, monkeypatch, capsys):
    data = mp_data_folder(tmp_path / "MP_Data")
    argv = ["--format", "mp_data", "--data_dir", str(data), "--layout", "corpus"]
    assert prepare([*argv, "--output_dir", str(tmp_path / "local")]) == 0
    with fake_gcs(tmp_path, monkeypatch) as bucket:
        assert prepare([*argv, "--output_dir", "gs://bucket/corpus"]) == 0
        assert "to gs://bucket/corpus (corpus layout)" in capsys.readouterr().out
        remote = Corpus("gs://bucket/corpus")  # the small files, read through epath
        assert remote.vocabulary.label_map() == Corpus(tmp_path / "local").vocabulary.label_map()
        assert bucket.strays() == []
    written = bucket.folder / "bucket" / "corpus"
    assert_same_corpus(tmp_path / "local", written)
    assert failures(written) == failures(tmp_path / "local")
    assert not list(written.rglob(".corpus.json*"))  # an object is written whole, no rename
