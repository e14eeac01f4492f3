"""The label map and special token ids."""

import pytest

from whispersign_jax import vocab
from whispersign_jax.vocab import Vocabulary


def test_label_map_round_trip_and_special_ids(tmp_path):
    vocabulary = Vocabulary.from_names(["xin chào", "cảm ơn", "tạm biệt"])
    path = tmp_path / "label_map.json"
    vocabulary.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocabulary
    assert loaded.label_map() == {"<blank>": 0, "xin chào": 1, "cảm ơn": 2, "tạm biệt": 3}
    assert vocab.special_ids(loaded.num_glosses) == {"<sos>": 4, "<eos>": 5, "<pad>": 6}
    assert (vocab.ctc_size(3), vocab.decoder_size(3)) == (4, 7)
    assert loaded.names([3, 1]) == ["tạm biệt", "xin chào"]
    assert loaded.ids(["cảm ơn"]) == [2]


def test_bad_label_maps_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"exactly 1\.\.2"):
        Vocabulary.from_label_map({"<blank>": 0, "a": 1, "b": 3}, source="x.json")
    with pytest.raises(ValueError, match="'<blank>' must have id 0"):
        Vocabulary.from_label_map({"<blank>": 1, "a": 2})
    with pytest.raises(ValueError, match="reserved"):
        Vocabulary.from_names(["<eos>"])
    with pytest.raises(ValueError, match="not a gloss id"):
        Vocabulary.from_names(["a"]).names([2])
    with pytest.raises(KeyError, match="not in the label map"):
        Vocabulary.from_names(["a"]).ids(["b"])
