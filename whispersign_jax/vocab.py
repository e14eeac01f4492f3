"""Gloss vocabulary: the one place that knows the token ids.

Ids: ``0`` is the CTC blank, glosses are ``1..N``, and the attention decoder's special tokens
follow the glosses: ``<sos> = N + 1``, ``<eos> = N + 2``, ``<pad> = N + 3``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

LABEL_MAP_FILE = "label_map.json"  # the vocabulary on disk, next to data and checkpoints
BLANK = "<blank>"
SPECIAL_TOKENS = ("<sos>", "<eos>", "<pad>")
RESERVED_NAMES = (BLANK, *SPECIAL_TOKENS)  # never gloss names
BLANK_ID = 0


def ctc_size(num_glosses: int) -> int:
    """Classes of the CTC head: the blank plus the glosses."""
    return num_glosses + 1


def decoder_size(num_glosses: int) -> int:
    """Tokens of the attention decoder: blank (unused), glosses, ``<sos> <eos> <pad>``."""
    return num_glosses + 1 + len(SPECIAL_TOKENS)


def special_ids(num_glosses: int) -> dict[str, int]:
    """Ids of ``<sos>``, ``<eos>`` and ``<pad>`` for a vocabulary of ``num_glosses``."""
    return {token: num_glosses + 1 + i for i, token in enumerate(SPECIAL_TOKENS)}


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Gloss names in id order; ``glosses[i]`` has id ``i + 1``."""

    glosses: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.glosses:
            raise ValueError("A vocabulary needs at least one gloss.")
        reserved = set(RESERVED_NAMES) & set(self.glosses)
        if reserved:
            raise ValueError(f"Gloss names {sorted(reserved)} are reserved for special tokens.")
        if len(set(self.glosses)) != len(self.glosses):
            raise ValueError("Gloss names must be unique.")

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Vocabulary:
        return cls(tuple(names))

    @classmethod
    def from_label_map(cls, label_map: Mapping[str, int], source: str = "label map") -> Vocabulary:
        """Builds the vocabulary from ``{"<blank>": 0, gloss: id, ...}`` with ids ``1..N``."""
        if not isinstance(label_map, Mapping):
            raise ValueError(f"{source}: a label map is a JSON object {{gloss: id}}.")
        odd = {k: v for k, v in label_map.items() if type(v) is not int}  # not 1.9, not true
        if odd:
            shown = ", ".join(f"{k!r}: {v!r}" for k, v in list(odd.items())[:5])
            raise ValueError(f"{source}: ids must be whole numbers, found {shown}.")
        glosses = {name: i for name, i in label_map.items() if name != BLANK}
        if label_map.get(BLANK, 0) != 0:
            raise ValueError(f"{source}: '{BLANK}' must have id 0, found {label_map[BLANK]}.")
        ids = sorted(glosses.values())
        if ids != list(range(1, len(ids) + 1)):
            raise ValueError(
                f"{source}: gloss ids must be exactly 1..{len(ids)} (0 is the blank); found "
                f"{ids[:10]}{'...' if len(ids) > 10 else ''}. Renumber the label map."
            )
        by_id = sorted(glosses, key=glosses.__getitem__)
        try:
            return cls(tuple(by_id))
        except ValueError as error:  # no gloss, or a reserved token name as a gloss
            raise ValueError(f"{source}: {error}") from error

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Label map {path} does not exist.")
        try:
            label_map = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(
                f"{path}: not a readable JSON label map ({error}); expected "
                f'{{"{BLANK}": 0, "gloss": 1, ...}} in UTF-8, as prepare writes it.'
            ) from error
        return cls.from_label_map(label_map, source=str(path))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.label_map_json(), encoding="utf-8")

    def label_map_json(self) -> str:
        """The ``LABEL_MAP_FILE`` text."""
        return json.dumps(self.label_map(), ensure_ascii=False, indent=1, allow_nan=False)

    def label_map(self) -> dict[str, int]:
        """``{"<blank>": 0, gloss: id}``, the on-disk ``LABEL_MAP_FILE`` format."""
        return {BLANK: 0, **{name: i + 1 for i, name in enumerate(self.glosses)}}

    @property
    def num_glosses(self) -> int:
        return len(self.glosses)

    def names(self, ids: Sequence[int]) -> list[str]:
        """Gloss names for gloss ids; special ids are not glosses and raise."""
        out = []
        for i in ids:
            if not 1 <= int(i) <= self.num_glosses:
                raise ValueError(f"Id {i} is not a gloss id (1..{self.num_glosses}).")
            out.append(self.glosses[int(i) - 1])
        return out

    def ids(self, names: Sequence[str]) -> list[int]:
        index = {name: i + 1 for i, name in enumerate(self.glosses)}
        missing = [name for name in names if name not in index]
        if missing:
            raise KeyError(f"Glosses {missing} are not in the label map.")
        return [index[name] for name in names]
