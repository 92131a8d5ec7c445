"""Vocabulary: round trips, the end-of-tune marker and unknown characters."""

from __future__ import annotations

import pytest

from tunegen.data.vocab import END_OF_TUNE, Vocabulary
from tunegen.errors import VocabularyError


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


def test_abc_tokens_round_trip_on_a_real_corpus_and_shorten_it(oneills):
    texts = [t.text for t in oneills.tunes]
    vocab = Vocabulary.from_texts(texts, "abc")
    assert {"K:", "M:", "6/8", "|:", ":|", "^f", "/2"} <= set(vocab.symbols)
    for text in texts[:300]:
        assert vocab.decode(vocab.encode(text)) == text
    assert sum(vocab.length(t) for t in texts[:300]) < 0.97 * sum(map(len, texts[:300]))
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


def test_abc_tokens_fall_back_to_characters():
    vocab = Vocabulary.from_texts(["K:D\n^f2 |: ^f2 :|\n" * 30 + "_b"], "abc")
    assert "^f" in vocab.symbols and "_b" not in vocab.symbols
    ids = vocab.encode("K:D\n_b2|")  # "_b" is rare: "_" and "b" are each known characters
    assert [vocab.symbols[i] for i in ids] == ["K:", "D", "\n", "_", "b", "2", "|"]
    with pytest.raises(VocabularyError, match="'%'"):
        vocab.encode("%")


def test_word_tokens_for_event_streams():
    vocab = Vocabulary.from_texts(["n60 d4 n64 d2", "n60 w2"], "words")
    assert vocab.decode(vocab.encode("n64 w2 n60")) == "n64 w2 n60"
    assert vocab.length("n60 d4") == 2 and not vocab.counts_characters
    with pytest.raises(VocabularyError, match="'n61'"):
        vocab.encode("n61")
