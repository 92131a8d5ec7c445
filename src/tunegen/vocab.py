"""Symbols <-> ids: a corpus' characters plus an end-of-tune marker; saved in each checkpoint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tunegen.errors import VocabularyError

END_OF_TUNE = "<eot>"


class Vocabulary:
    """Character vocabulary: id 0 is the end-of-tune marker, then the characters in sorted order."""

    def __init__(self, symbols: Sequence[str]) -> None:
        if not symbols or symbols[0] != END_OF_TUNE:
            raise ValueError(f"a vocabulary starts with {END_OF_TUNE}")
        if len(set(symbols)) != len(symbols):
            raise ValueError("vocabulary symbols repeat")
        if any(len(s) != 1 for s in symbols[1:]):
            raise ValueError("vocabulary symbols after the marker are single characters")
        self.symbols = list(symbols)
        codes = np.array([ord(s) for s in self.symbols[1:]], dtype=np.int64)
        order = np.argsort(codes)
        self._sorted_codes = codes[order]
        self._sorted_ids = (order + 1).astype(np.int64)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        """The vocabulary of every character that occurs in `texts`."""
        chars: set[str] = set()
        for text in texts:
            chars.update(text)
        return cls([END_OF_TUNE, *sorted(chars)])

    @property
    def end_id(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.symbols == other.symbols

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} symbols)"

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of `text`; an unknown character is a VocabularyError naming it."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        positions = np.searchsorted(self._sorted_codes, codes).clip(0, len(self._sorted_codes) - 1)
        unknown = self._sorted_codes[positions] != codes
        if unknown.any():
            char = text[int(np.argmax(unknown))]
            raise VocabularyError(
                f"character {char!r} (U+{ord(char):04X}) is not in the model's vocabulary"
            )
        return self._sorted_ids[positions]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; the end-of-tune marker decodes to nothing."""
        return "".join(self.symbols[i] for i in ids if i != 0)

    def to_dict(self) -> dict:
        return {"symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(data["symbols"])
