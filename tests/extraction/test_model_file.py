import hashlib
import re

import pytest

from whispersign_jax.extraction import model_file
from whispersign_jax.extraction.errors import ExtractionError

CONTENT = b"a stand-in for hand_landmarker.task"
CONTENT_SHA256 = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(model_file.CACHE_ENV, str(folder))
    return folder


def test_cache_folder_follows_the_environment(cache):
    assert model_file.default_model_path() == cache / "hand_landmarker.task"
    assert model_file.available_model() is None


def test_download_is_checked_and_cached(cache, tmp_path):
    source = tmp_path / "served.task"
    source.write_bytes(CONTENT)
    path = model_file.ensure_model(url=source.as_uri(), sha256=CONTENT_SHA256)
    assert path == cache / "hand_landmarker.task" and path.read_bytes() == CONTENT
    assert model_file.available_model() == path
    source.unlink()  # a second call uses the cache
    assert model_file.ensure_model(url=source.as_uri(), sha256=CONTENT_SHA256) == path


def test_download_with_wrong_checksum_saves_nothing(cache, tmp_path):
    source = tmp_path / "served.task"
    source.write_bytes(CONTENT + b"tampered")
    with pytest.raises(ExtractionError, match="not the expected") as error:
        model_file.ensure_model(url=source.as_uri(), sha256=CONTENT_SHA256)
    assert model_file.HAND_MODEL.url in str(error.value)
    assert list(cache.iterdir()) == []


def test_offline_error_says_where_to_get_the_file_and_where_to_put_it(cache):
    with pytest.raises(ExtractionError) as error:
        model_file.ensure_model(url="http://127.0.0.1:9/hand_landmarker.task", timeout_s=5)
    message = str(error.value)
    assert model_file.HAND_MODEL.url in message and model_file.HAND_MODEL.sha256 in message
    assert str(cache / "hand_landmarker.task") in message and "--hand_model" in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_cached_file_with_wrong_checksum_is_refused(cache):
    cache.mkdir()
    (cache / "hand_landmarker.task").write_bytes(b"something else")
    with pytest.raises(ExtractionError, match="does not match"):
        model_file.ensure_model(sha256=CONTENT_SHA256)


def test_explicit_model_path_must_exist(tmp_path, cache):
    own = tmp_path / "my_model.task"
    with pytest.raises(ExtractionError, match=re.escape(f"--hand_model {own}: no such file")):
        model_file.ensure_model(own)
    own.write_bytes(b"any version")
    assert model_file.ensure_model(own) == own
    assert model_file.available_model(own) == own
