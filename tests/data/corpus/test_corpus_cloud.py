"""A corpus written to cloud storage (``gs://`` on a local emulator, ``tests/gcs_emulator.py``)
holds what the same preparation writes to a local folder."""

from __future__ import annotations

from corpus_checks import assert_same_corpus, failures, mp_data_folder
from etils import epath
from gcs_emulator import gcs_emulator

from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.prepare.cli import main as prepare


def download(remote: str, local) -> None:
    """Copies the files of ``remote`` (gs://...) and of its subfolders to ``local``."""
    for path in [*epath.Path(remote).glob("*"), *epath.Path(remote).glob("*/*")]:
        if path.is_file():
            target = local / str(path)[len(remote) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def test_corpus_prepared_to_gcs_equals_the_local_corpus(tmp_path, monkeypatch, capsys):
    data = mp_data_folder(tmp_path / "MP_Data")
    argv = ["--format", "mp_data", "--data_dir", str(data), "--layout", "corpus"]
    assert prepare([*argv, "--output_dir", str(tmp_path / "local")]) == 0
    monkeypatch.chdir(tmp_path)  # a gs:// path opened as a local one would land here
    with gcs_emulator(monkeypatch):
        assert prepare([*argv, "--clips_per_shard", "4", "--output_dir", "gs://bucket/c"]) == 0
        assert "to gs://bucket/c (corpus layout)" in capsys.readouterr().out
        remote = Corpus("gs://bucket/c")  # its small files, read through epath
        assert remote.vocabulary.label_map() == Corpus(tmp_path / "local").vocabulary.label_map()
        assert len(list(epath.Path("gs://bucket/c/train").glob("*.array_record"))) == 3
        download("gs://bucket/c", tmp_path / "downloaded")
    assert not (tmp_path / "gs:").exists()
    assert_same_corpus(tmp_path / "local", tmp_path / "downloaded")
    assert failures(tmp_path / "downloaded") == failures(tmp_path / "local")
    assert not list((tmp_path / "downloaded").rglob(".corpus.json*"))  # written whole
