"""Corpora -> id arrays (in memory or memory-mapped .npy) -> stateful or tune streams, windows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tunegen.data.vocab import Vocabulary
from tunegen.errors import CorpusError, CorpusSizeError, Setting
from tunegen.music.abc import hash_fraction
from tunegen.runtime.fileio import temporary_beside, write_atomically

IGNORE = -100  # a target that counts for nothing (cross_entropy's ignore_index)


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id: one byte per symbol for ABC's ~90."""
    if vocab_size <= 2**8:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.int32)


class TuneTexts:
    """Tune texts kept in a UTF-8 file, one after another with a blank line between them.

    A tune's text never holds a blank line (a blank line ends a tune in ABC), so the file reads
    back exactly. Iterating reads it again from disk: a split of any size never sits in memory.
    `originals`: for a training split with key copies (write_splits' `augment`), how many tunes
    come first as the corpus has them; the copies follow.
    """

    def __init__(self, path: Path, originals: int | None = None) -> None:
        self.path, self.originals = path, originals

    def __iter__(self) -> Iterator[str]:
        lines: list[str] = []
        with self.path.open(encoding="utf-8", newline="\n") as file:
            for line in file:
                if line == "\n":
                    yield "".join(lines)
                    lines = []
                else:
                    lines.append(line)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def write_splits(
    texts: Iterable[str],
    folder: Path,
    val_fraction: float,
    augment: Callable[[str], list[str]] | None = None,
    clean: Callable[[str], str | None] | None = None,
) -> dict[str, TuneTexts]:
    """Stream tune texts into corpus-train.txt and corpus-val.txt in `folder`.

    The rule is split_train_val's: a tune is held out when its hash fraction is below
    `val_fraction`; if none is, the train tune with the smallest fraction is held out instead.
    With `clean` (a cleaned text, or None to drop the tune), training tunes are cleaned, and the
    held-out tunes are written both as they are ("val", so that runs stay comparable with runs
    on uncleaned text) and cleaned ("val_clean"); the split is decided on the text as it is.
    `augment` (e.g. key transposition) gives extra texts for a training tune only; they follow
    all the original tunes in rounds (every tune's first copy, then every tune's second, ...),
    so one tune's copies lie a whole book apart: a stateful stream that met a tune in G never
    meets it again in D right after, where it would learn to copy the tune before instead of
    starting a new one. Validation tunes (and their copies) never reach the training text.
    """
    splits = ("train", "val", "val_clean") if clean else ("train", "val")
    paths = {split: folder / f"corpus-{split}.txt" for split in splits}
    partials = {split: temporary_beside(path) for split, path in paths.items()}
    rounds: list[Path] = []  # round k: copy k of every train tune that has one, in tune order
    counts = {"train": 0, "val": 0}
    extras: list[int] = []  # copies written for each train tune, in order
    lowest = (1.0, -1)  # (hash fraction, index) of the train tune with the smallest fraction
    try:
        with ExitStack() as stack:
            files: dict[str | int, TextIO] = {
                split: stack.enter_context(path.open("w", encoding="utf-8", newline="\n"))
                for split, path in partials.items()
            }  # the splits' files, and each round's by its number
            for text in texts:
                fraction = hash_fraction(text)
                split = "val" if fraction < val_fraction else "train"
                cleaned = clean(text) if clean else text
                if split == "val":
                    files["val"].write(text + "\n")
                    if clean and cleaned is not None:
                        files["val_clean"].write(cleaned + "\n")
                    counts["val"] += 1
                elif cleaned is not None:
                    lowest = min(lowest, (fraction, counts["train"]))
                    copies = augment(cleaned) if augment else []
                    for number, copy in enumerate(copies):
                        if number == len(rounds):
                            rounds.append(temporary_beside(folder / f"corpus-extra{number}.txt"))
                            files[number] = stack.enter_context(
                                rounds[number].open("w", encoding="utf-8", newline="\n")
                            )
                        files[number].write(copy + "\n")
                    extras.append(len(copies))
                    files["train"].write(cleaned + "\n")
                    counts["train"] += 1
        if counts["train"] + counts["val"] < 2:
            total = counts["train"] + counts["val"]
            raise CorpusError(f"need at least 2 tunes to hold some out, got {total}")
        held_out = -1
        if counts["val"] == 0:
            held_out = lowest[1]
            _hold_out_one(partials, held_out)
        for number, path in enumerate(rounds):
            skip = -1  # the held-out tune's copy in this round, by its place in the round
            if held_out >= 0 and extras[held_out] > number:
                skip = sum(1 for n in extras[:held_out] if n > number)
            _append_texts(path, partials["train"], skip)
        for split, path in paths.items():
            os.replace(partials[split], path)
    finally:
        for partial in [*partials.values(), *rounds]:
            partial.unlink(missing_ok=True)
    result = {split: TuneTexts(path) for split, path in paths.items()}
    if augment is not None:
        result["train"].originals = counts["train"] - (held_out >= 0)
    return result


def _append_texts(source: Path, target: Path, skip: int) -> None:
    """Append the tune texts of `source` to `target`, leaving out text number `skip`."""
    with target.open("a", encoding="utf-8", newline="\n") as file:
        for index, text in enumerate(TuneTexts(source)):
            if index != skip:
                file.write(text + "\n")


def _hold_out_one(partials: dict[str, Path], index: int) -> None:
    """Move train tune number `index` to the (empty) validation files: tiny corpora only."""
    train = list(TuneTexts(partials["train"]))
    held_out = train.pop(index)
    for split in ("val", "val_clean"):
        if split in partials:
            partials[split].write_text(held_out + "\n", encoding="utf-8")
    partials["train"].write_text("".join(text + "\n" for text in train), encoding="utf-8")


Texts = Sequence[str] | TuneTexts  # tune texts that can be read more than once


def _encoded_parts(texts: Iterable[str], vocab: Vocabulary) -> Iterator[np.ndarray]:
    """<eot> tune <eot> tune ... <eot>, one piece at a time, so every tune starts after a marker."""
    marker = np.zeros(1, dtype=id_dtype(len(vocab)))
    yield marker
    for text in texts:
        yield vocab.encode(text)
        yield marker


def encoded_length(texts: Iterable[str], vocab: Vocabulary | None = None) -> int:
    """Symbols in encode_texts' output, the markers included; without `vocab`, characters."""
    return 1 + sum((vocab.length(text) if vocab else len(text)) + 1 for text in texts)


def split_counts(texts: Iterable[str], vocab: Vocabulary) -> dict[str, int]:
    """Tunes, characters and symbols of a split in one pass (encode_texts' markers included)."""
    tunes = chars = symbols = 0
    for text in texts:
        tunes += 1
        chars += len(text) + 1
        symbols += vocab.length(text) + 1
    return {"tunes": tunes, "chars": chars + 1, "symbols": symbols + 1}


def encode_texts(texts: Texts, vocab: Vocabulary, path: Path | None = None) -> np.ndarray:
    """One id array: <eot> tune <eot> tune ... <eot>.

    Without `path` the array is built in memory. With `path` the tunes are encoded one by one into
    a .npy file (written atomically) and the file is returned memory-mapped read-only: a corpus
    larger than RAM never sits in memory as ids. `texts` is read twice (to size the file, then to
    fill it), so it must be a sequence or a TuneTexts, not a generator.
    """
    dtype = id_dtype(len(vocab))
    if path is None:
        return np.concatenate([part.astype(dtype) for part in _encoded_parts(texts, vocab)])

    def fill(partial: Path) -> None:
        out = np.lib.format.open_memmap(partial, "w+", dtype, (encoded_length(texts, vocab),))
        at = 0
        for part in _encoded_parts(texts, vocab):
            out[at : at + len(part)] = part
            at += len(part)
        out.flush()
        del out

    write_atomically(path, fill)
    return load_encoded(path)


def load_encoded(path: Path) -> np.ndarray:
    """An encoded corpus .npy, memory-mapped read-only: pages are read as batches touch them."""
    return np.load(path, mmap_mode="r")


def _batch(ids: np.ndarray, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets [B, T] from index [B, T+1]; only this batch is copied out of `ids`."""
    chunk = torch.from_numpy(ids[index].astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


class StatefulBatches(Dataset):
    """The seed's batching: B parallel streams of consecutive chunks, per rank of a DDP run.

    The id array is cut into B * world_size equal streams; rank r takes streams r, r + W, r + 2W,
    ..., so ranks never share a stream and together cover the same layout as one process with
    batch B * W. Batch t holds chunk t of every stream of this rank, so row b of batch t+1 continues
    exactly where row b of batch t ended and the model may carry its hidden state across batches
    (detached: truncated back-propagation through time). Every rank has the same number of steps.
    """

    def __init__(
        self, ids: np.ndarray, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1
    ) -> None:
        streams = batch_size * world_size
        self.stream_len = (len(ids) - 1) // streams
        self.steps = (self.stream_len - 1) // seq_len + 1 if self.stream_len > 1 else 0
        if self.steps < 1:
            raise _too_few_streams(len(ids), streams, seq_len)
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        # stream b of this rank is ids[starts[b] : starts[b] + L + 1]; the extra symbol is the
        # last target
        self.starts = (np.arange(batch_size) * world_size + rank) * self.stream_len

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        start = step * self.seq_len
        end = min(start + self.seq_len, self.stream_len)
        return _batch(self.ids, self.starts[:, None] + np.arange(start, end + 1)[None, :])


class TuneBatches(Dataset):
    """Stateful streams of whole tunes, each starting from a fresh state as `generate` starts it.

    In StatefulBatches a tune starts from the state its book's previous tune left (often a tune
    of the same kind: books group jigs with jigs), while sampling starts every tune from the
    initial state, which such training never shows the model. Here each tune (its marker, then
    its symbols) fills whole chunks of `seq_len`, the last one padded with markers whose targets
    are IGNORE, so a tune always starts a chunk and its first input is the marker: the training
    step starts those rows from a fresh state (`starts_tune`). The tunes are shuffled afresh each
    epoch from (seed, epoch), so a resumed run sees the same batches; the chunks are then cut into
    B * world_size streams of about equal length at tune starts, so no tune is split between
    streams (rank r takes streams r, r + W, ...), and batch t holds chunk t of every stream of
    this rank. Every chunk is in every epoch: a stream shorter than the longest ends early and
    its rows are empty (no target), so that a few tunes (fine-tuning) still train in batches of
    the model's size.

    Key copies (tunes from number `copies_from` on, see TuneTexts.originals) teach the music in
    other keys, not which keys tunes are in: the symbols of a copy's K: field value are not
    targets (`key_field`: the ids of newline, "K" and ":"), so the model learns the keys of its
    first tune lines only from the corpus's own tunes. Copies in D, G, A and E otherwise made
    23% of a model's tunes E major, a key its corpus hardly uses.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        seq_len: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        copies_from: int | None = None,
        key_field: tuple[int, int, int] | None = None,
    ) -> None:
        markers = np.flatnonzero(np.asarray(ids) == 0)  # encode_texts' <eot> markers (id 0)
        # tune i: inputs ids[markers[i] : markers[i + 1]], targets shifted by one
        self.tune_starts, self.tune_lengths = markers[:-1], np.diff(markers)
        self.tune_chunks = (self.tune_lengths + seq_len - 1) // seq_len
        streams = batch_size * world_size
        self.chunks = int(self.tune_chunks.sum())
        if self.chunks < 1:
            raise _too_few_streams(len(ids), streams, seq_len)
        # Streams are cut at the tune start nearest each even share of the chunks, so one may
        # be longer than the share by a tune's chunks less one: the steps of the longest there
        # can be, in every epoch's order. Shorter streams end early, with empty rows.
        self.steps = -(-self.chunks // streams) + int(self.tune_chunks.max()) - 1
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self._layout: tuple | None = None  # epoch, then what _chunks returns
        self.hidden: np.ndarray | None = None  # [len(ids)] True: that symbol is no target
        if copies_from is not None and key_field is not None and copies_from < len(markers) - 1:
            self.hidden = _copied_keys(np.asarray(ids), markers, copies_from, key_field)

    def __len__(self) -> int:
        return self.steps

    def _chunks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every chunk of this epoch's tune order (first input's index, end of its inputs), and
        where each stream's chunks begin [streams + 1]: always at a tune's first chunk."""
        if self._layout is None or self._layout[0] != self.epoch:
            rng = np.random.default_rng((self.seed, self.epoch))
            order = rng.permutation(len(self.tune_starts))
            counts = self.tune_chunks[order]
            tune = np.repeat(order, counts)  # each chunk's tune
            first = np.cumsum(counts) - counts  # each tune's first chunk
            within = np.arange(len(tune)) - np.repeat(first, counts)
            starts = self.tune_starts[tune] + within * self.seq_len
            tune_ends = self.tune_starts[tune] + self.tune_lengths[tune]
            ends = np.minimum(starts + self.seq_len, tune_ends)
            streams = self.batch_size * self.world_size
            shares = -(-np.arange(streams + 1) * self.chunks // streams)  # ceil(b * C / S)
            at = np.searchsorted(first, shares)  # the first tune starting at or after each
            bounds = np.append(first, self.chunks)[at]
            self._layout = (self.epoch, starts, ends, bounds)
        return self._layout[1], self._layout[2], self._layout[3]

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        starts, ends, bounds = self._chunks()
        streams = np.arange(self.batch_size) * self.world_size + self.rank
        chunk = bounds[streams] + step
        some = chunk < bounds[streams + 1]  # rows past a stream's end: no input, no target
        chunk = np.where(some, chunk, 0)
        offsets = np.arange(self.seq_len + 1)
        index = starts[chunk, None] + offsets[None, :]
        # the inputs are ids[start:end], the targets one further on: target k is real while
        # index k + 1 <= end; past it come marker inputs and IGNORE targets (index <= the last
        # marker's, always inside ids)
        valid = (index <= ends[chunk, None]) & some[:, None]
        chunk_ids = self.ids[np.minimum(index, ends[chunk, None])].astype(np.int64)
        chunk_ids[~valid] = 0
        x = torch.from_numpy(chunk_ids[:, :-1])
        targets = valid[:, 1:]
        if self.hidden is not None:
            targets &= ~self.hidden[np.minimum(index[:, 1:], len(self.ids) - 1)]
        y = torch.from_numpy(np.where(targets, chunk_ids[:, 1:], IGNORE))
        return x, y


def _copied_keys(
    ids: np.ndarray, markers: np.ndarray, first: int, key_field: tuple[int, int, int]
) -> np.ndarray:
    """[len(ids)] True at the value of the first K: line (a newline, "K", ":", then the value up
    to the next newline) of tunes number `first` on."""
    newline, letter, colon = key_field
    hidden = np.zeros(len(ids), dtype=bool)
    at = markers[first]
    tail = ids[at:]  # ends with a marker, so each newline but the last has two symbols after it
    lines = np.flatnonzero(tail == newline)
    inner = lines[:-1]
    starts = inner[(tail[inner + 1] == letter) & (tail[inner + 2] == colon)]
    tune_of = np.searchsorted(markers, starts + at, side="right")  # which tune each lies in
    _, first_in_tune = np.unique(tune_of, return_index=True)  # the header's K: comes first
    for start in starts[first_in_tune]:
        value = start + 3
        end = lines[np.searchsorted(lines, value)]  # the K: line ends with a newline
        hidden[at + value : at + end] = True
    return hidden


def starts_tune(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[B] True for the rows of a TuneBatches batch whose chunk starts a tune (its first input
    is the marker and its first target a symbol of the tune)."""
    return (x[:, 0] == 0) & (y[:, 0] != IGNORE)


def fresh_tune_starts(state: list | None, x: torch.Tensor, y: torch.Tensor) -> list | None:
    """An LSTM's state [(h, c) [B, H] per layer] carried into a TuneBatches batch, with the rows
    whose chunk starts a tune set back to the initial (zero) state."""
    if state is None:
        return None
    carry = (~starts_tune(x, y)).to(state[0][0].dtype)[:, None]
    return [(h * carry, c * carry) for h, c in state]


class WindowBatches(Dataset):
    """The MIT lab's batching: random windows with fresh state, one epoch ~ one pass of symbols.

    Windows depend only on (seed, epoch, step, rank), so a resumed run sees the same batches. Under
    DDP each rank draws its own windows and an epoch has 1 / world_size of the steps: for windows
    drawn at random, that is what a DistributedSampler over window indices would do.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        seq_len: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(ids) < seq_len + 2:
            raise _too_few_windows(len(ids), seq_len)
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        self.seed, self.rank = seed, rank
        self.steps = max(1, (len(ids) - 1) // (batch_size * seq_len * world_size))
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        rng = np.random.default_rng((self.seed, self.epoch, step, self.rank))
        starts = rng.integers(0, len(self.ids) - self.seq_len - 1, size=self.batch_size)
        return _batch(self.ids, starts[:, None] + np.arange(self.seq_len + 1)[None, :])


def file_digests(paths: Iterable[Path]) -> dict[str, str]:
    """{path: the first 16 hex digits of its SHA-256}, read in 1 MiB pieces: a checkpoint
    remembers the exact corpus it was trained on, so a resume can tell a changed file."""
    digests = {}
    for path in paths:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as file:
                while piece := file.read(1 << 20):
                    digest.update(piece)
        except OSError as err:
            raise CorpusError(f"{path}: {err.strerror or err}") from None
        digests[str(path)] = digest.hexdigest()[:16]
    return digests


def digest_changes(saved: dict[str, str], now: dict[str, str]) -> list[str]:
    """What differs between two file_digests: 'a.abc changed', 'b.abc is new', 'c.abc is gone'."""
    changes = [f"{p} changed" for p in saved if p in now and now[p] != saved[p]]
    changes += [f"{p} is new" for p in now if p not in saved]
    return changes + [f"{p} is gone" for p in saved if p not in now]


def check_batches_fit(symbols: int, mode: str, batch_size: int, seq_len: int, world: int) -> None:
    """CorpusError, before training starts, if `symbols` of training text cannot fill one batch
    (the rule StatefulBatches and WindowBatches apply; TuneBatches, whose tunes fill whole
    chunks, may need more and says so when it is built)."""
    if mode in ("stateful", "tunes"):
        streams = batch_size * world
        if (symbols - 1) // streams <= 1:
            raise _too_few_streams(symbols, streams, seq_len)
    elif symbols < seq_len + 2:
        raise _too_few_windows(symbols, seq_len)


def _too_few_streams(symbols: int, streams: int, seq_len: int) -> CorpusSizeError:
    return CorpusSizeError(
        f"{symbols} symbols are too few for {streams} streams of {seq_len}: use a smaller ",
        Setting("batch_size"), " or ", Setting("seq_len"), ", or a larger corpus",
    )  # fmt: skip


def _too_few_windows(symbols: int, seq_len: int) -> CorpusSizeError:
    return CorpusSizeError(
        f"{symbols} symbols are too few for windows of {seq_len}: use a smaller ",
        Setting("seq_len"), ", or a larger corpus",
    )  # fmt: skip


class ResumableSampler(Sampler[int]):
    """Batch numbers 0..n-1; the first pass after a resume starts where the checkpoint stopped."""

    def __init__(self, steps: int) -> None:
        self.steps, self.start = steps, 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[int]:
        # DataLoader calls iter() when an epoch's iterator is made, after Lightning restored us
        start, self.start = self.start, 0
        return iter(range(start, self.steps))


class ResumableLoader(DataLoader):
    """A loader of whole batches (batch_size=None) whose place in the epoch goes into checkpoints.

    Lightning saves `state_dict()` with every checkpoint and hands it to `load_state_dict` on
    resume, so an epoch interrupted after batch k continues with batch k, not batch 0.
    `batches_done` says how many batches of this epoch the optimizer has stepped on. The loader
    draws its worker seed from its own generator, never from torch's global one, so making an
    iterator cannot shift the dropout masks of a resumed run.
    """

    def __init__(self, dataset: Dataset, batches_done: Callable[[], int]) -> None:
        self.resume_sampler = ResumableSampler(len(dataset))
        self.batches_done = batches_done
        super().__init__(
            dataset, batch_size=None, sampler=self.resume_sampler, generator=torch.Generator()
        )

    def state_dict(self) -> dict:
        return {"batches_done": int(self.batches_done())}

    def load_state_dict(self, state: dict) -> None:
        done = state.get("batches_done", 0)
        # an end-of-epoch checkpoint (done == steps) resumes at the start of the next epoch
        self.resume_sampler.start = done if 0 < done < self.resume_sampler.steps else 0
