"""Vocabulary: round trips, the end-of-tune marker and unknown characters."""

from __future__ import annotations

import pytest

from tunegen.errors import VocabularyError
from tunegen.vocab import END_OF_TUNE, Vocabulary


def test_round_trip_on_a_real_corpus(oneills):
    texts = [t.text for t in oneills.tunes]
    vocab = Vocabulary.from_texts(texts)
    assert vocab.symbols[0] == END_OF_TUNE and len(vocab) == 1 + len(set("".join(texts)))
    for text in texts[:300]:
        assert vocab.decode(vocab.encode(text)) == text


def test_marker_decodes_to_nothing_and_dict_round_trip():
    vocab = Vocabulary.from_texts(["abc", "K:D\n"])
    ids = [vocab.end_id, *vocab.encode("abc"), vocab.end_id]
    assert vocab.decode(ids) == "abc"
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


def test_unknown_character_names_it():
    vocab = Vocabulary.from_texts(["ABC"])
    with pytest.raises(VocabularyError, match=r"'é' \(U\+00E9\) is not in the model's vocabulary"):
        vocab.encode("AéB")


def test_non_bmp_characters_work():
    vocab = Vocabulary.from_texts(["a𝄞b"])
    assert vocab.decode(vocab.encode("𝄞ab")) == "𝄞ab"


def test_invalid_symbol_lists_are_rejected():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError):
        Vocabulary([END_OF_TUNE, "a", "a"])
