"""Symbols <-> ids: a corpus' symbols plus an end-of-tune marker; saved in each checkpoint.

Three tokenizers cut text into symbols:
- "chars": every character is a symbol (the char-RNN of the write-ups);
- "abc": folk-rnn-style ABC tokens (a note with its accidentals and octave marks, a duration, a bar
  line, a field label) that occur at least MIN_TOKEN_COUNT times in the corpus, and single
  characters for everything else, so any text the characters cover can be encoded losslessly;
- "words": whitespace-separated words (event streams such as MIDI), joined by spaces on decoding.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from tunegen.errors import UsageError, VocabularyError

END_OF_TUNE = "<eot>"
TOKENIZERS = ("chars", "abc", "words")
MIN_TOKEN_COUNT = 20

ABC_TOKEN = re.compile(
    r"""
    ^[A-Za-z+]:                 # a field label at the start of a line: T: M: L: K: ...
    | \[[A-Za-z]:               # an inline field: [M: [K:
    | [_^=]*[A-Ga-g][,']*       # a note with its accidentals and octave marks
    | \d*/+\d* | \d+            # a duration: 2  /2  3/2  /  (and a field's 6/8, 1/8)
    | :*\|+[:\]]?\d* | :: | \[\d  # a bar line: |  ||  |:  :|  |]  :|2  |1  [2
    | \(\d(?::\d*)*             # a tuplet: (3  (3:2:3
    | "[^"\n]*"                 # a chord symbol or annotation: "Am"
    | .|\n                      # any other character
    """,
    re.VERBOSE | re.MULTILINE,
)


def abc_tokens(text: str) -> list[str]:
    """`text` cut into ABC tokens; joining them gives `text` back."""
    return ABC_TOKEN.findall(text)


class Vocabulary:
    """Id 0 is the end-of-tune marker, then the symbols in sorted order (then, for a fine-tuned
    model, the symbols it added, also sorted: see with_symbols_of)."""

    def __init__(self, symbols: Sequence[str], tokenizer: str = "chars") -> None:
        if tokenizer not in TOKENIZERS:
            raise UsageError(f"unknown tokenizer {tokenizer!r}; choose one of {TOKENIZERS}")
        if not symbols or symbols[0] != END_OF_TUNE:
            raise ValueError(f"a vocabulary starts with {END_OF_TUNE}")
        if len(set(symbols)) != len(symbols):
            raise ValueError("vocabulary symbols repeat")
        if tokenizer == "chars" and any(len(s) != 1 for s in symbols[1:]):
            raise ValueError("a character vocabulary holds single characters")
        self.symbols, self.tokenizer = list(symbols), tokenizer
        self.index = {symbol: i for i, symbol in enumerate(self.symbols) if i > 0}
        singles = [(ord(s), i) for s, i in self.index.items() if len(s) == 1]
        codes = np.array(sorted(singles), dtype=np.int64).reshape(-1, 2)
        self._sorted_codes, self._sorted_ids = codes[:, 0], codes[:, 1]

    @classmethod
    def from_texts(cls, texts: Iterable[str], tokenizer: str = "chars") -> Vocabulary:
        """The vocabulary of `texts`: every character, and for "abc" the frequent tokens too."""
        if tokenizer == "words":
            words = set().union(*(text.split() for text in texts))
            return cls([END_OF_TUNE, *sorted(words)], tokenizer)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(abc_tokens(text) if tokenizer == "abc" else text)
        chars = {c for token in counts for c in token}
        frequent = {t for t, n in counts.items() if len(t) > 1 and n >= MIN_TOKEN_COUNT}
        return cls([END_OF_TUNE, *sorted(chars | frequent)], tokenizer)

    def with_symbols_of(self, texts: Iterable[str]) -> Vocabulary:
        """This vocabulary with the characters (or, for "words", the words) of `texts` that it
        lacks appended in sorted order: every existing symbol keeps its id, so a model's weights
        still fit its first rows (fine-tuning, finetune.py). Returns self when nothing is new."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text.split() if self.tokenizer == "words" else text)
        new = sorted(seen - set(self.symbols))
        return Vocabulary([*self.symbols, *new], self.tokenizer) if new else self

    @property
    def end_id(self) -> int:
        return 0

    @property
    def counts_characters(self) -> bool:
        """Whether bits per symbol convert to bits per character (not for word streams)."""
        return self.tokenizer != "words"

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.symbols == other.symbols
            and self.tokenizer == other.tokenizer
        )

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} symbols, {self.tokenizer})"

    def encode(self, text: str) -> np.ndarray:
        """Ids of the symbols of `text`; an unknown character or word is a VocabularyError."""
        if self.tokenizer == "chars":
            return self._encode_chars(text)
        if self.tokenizer == "words":
            return np.array([self._word_id(word) for word in text.split()], dtype=np.int64)
        ids: list[int] = []
        for token in abc_tokens(text):
            known = self.index.get(token)
            ids.extend(self._encode_chars(token).tolist() if known is None else [known])
        return np.array(ids, dtype=np.int64)

    def length(self, text: str) -> int:
        """How many symbols `text` encodes to."""
        return len(text) if self.tokenizer == "chars" else len(self.encode(text))

    def _word_id(self, word: str) -> int:
        if word not in self.index:
            raise VocabularyError(f"symbol {word!r} is not in the model's vocabulary")
        return self.index[word]

    def _encode_chars(self, text: str) -> np.ndarray:
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
        separator = " " if self.tokenizer == "words" else ""
        return separator.join(self.symbols[i] for i in ids if i != 0)

    def to_dict(self) -> dict:
        return {"symbols": list(self.symbols), "tokenizer": self.tokenizer}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(data["symbols"], data.get("tokenizer", "chars"))
