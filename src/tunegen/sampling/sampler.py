"""Batched generation without Lightning: primers, header constraints, sampling, tunebooks."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from tunegen.data.vocab import Vocabulary
from tunegen.errors import Setting, SettingError, UsageError
from tunegen.models.lstm import LSTMModel
from tunegen.music.abc import check_key, tunebook_from_texts
from tunegen.runtime.threads import blas_threads, product_threads
from tunegen.sampling.form import FormPlan

# Documented bounds (README, "Limits"). N tunes are sampled in chunks of at most chunk_size(V)
# rows, so memory depends on the chunk, never on N.
MAX_NUM_TUNES = 1_000_000
MAX_SYMBOLS = 100_000  # symbols per tune: characters, or ABC tokens
MAX_TEMPERATURE = 100.0  # far past uniform noise already; NaN and inf are refused with it
NOISE_BUDGET = 128 * 2**20  # bytes of one chunk's Gumbel noise block (float64 as drawn)
MAX_CHUNK = 1024


def chunk_size(vocab_size: int) -> int:
    """Rows sampled together: as many as fit NOISE_BUDGET (GumbelNoise draws [256, B, V] float64
    at once), at most MAX_CHUNK; ~5,800 for ABC's ~90 symbols would be far past the speed gain."""
    return max(1, min(MAX_CHUNK, NOISE_BUDGET // (256 * vocab_size * 8)))


@dataclass(frozen=True)
class SamplingOptions:
    """How to pick each next symbol."""

    temperature: float | None = 1.0  # None: the model's own default (see with_model_defaults)
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1.0: no nucleus cut
    max_symbols: int = 2000  # a tune's length limit, in the model's symbols
    seed: int | None = None

    def validate(self) -> None:
        # `not 0 < t` also refuses NaN; an infinite temperature would sample nothing but noise
        if self.temperature is None or not 0 < self.temperature <= MAX_TEMPERATURE:
            raise SettingError(
                Setting("temperature"),
                f" must be > 0 and at most {MAX_TEMPERATURE}, got {self.temperature}",
            )
        if self.top_k < 0:
            raise SettingError(Setting("top_k"), f" must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise SettingError(Setting("top_p"), f" must be in (0, 1], got {self.top_p}")
        if not 1 <= self.max_symbols <= MAX_SYMBOLS:
            raise SettingError(
                Setting("max_symbols"), f" must be in [1, {MAX_SYMBOLS}], got {self.max_symbols}"
            )
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise SettingError(Setting("seed"), f" must be a whole number >= 0, got {self.seed}")


class NumpyLSTMStepper:
    """Steps an LSTMModel one symbol at a time with numpy float32 math.

    On CPU, torch's per-call overhead (~5 us an op) and this machine's MKL matrix-vector product
    (~80 us per 2 MB weight matrix vs ~26 us in numpy's OpenBLAS) dominate small-batch sampling.
    The first layer's input projection is folded into a [V, 4H] table: embedding @ W_ih + biases.
    """

    def __init__(self, model: LSTMModel) -> None:
        def array(t: torch.Tensor) -> np.ndarray:
            return t.detach().float().cpu().numpy()

        weights = [
            tuple(array(w) for w in model._layer_weights(i)) for i in range(model.config.num_layers)
        ]
        w_ih0, w_hh0, b_ih0, b_hh0 = weights[0]
        size = model.config.hidden_size
        # sigmoid(z) = tanh(z / 2) / 2 + 1/2: the i, f and o gates' weights and biases are halved
        # here, so one tanh serves all four gates. Halving is exact in floating point, so the
        # logits are bit for bit those of the unhalved products.
        half = np.full(4 * size, 0.5, dtype=np.float32)
        half[2 * size : 3 * size] = 1.0  # g keeps its tanh
        self.table = (array(model.embedding.weight) @ w_ih0.T + b_ih0 + b_hh0) * half  # [V, 4H]
        self.w_hh0 = np.ascontiguousarray(w_hh0.T * half)  # [H, 4H]
        # upper layers: one product of [x, h] with the stacked [W_ih; W_hh]
        self.w_upper = [
            np.ascontiguousarray(np.concatenate([w[0], w[1]], 1).T * half) for w in weights[1:]
        ]
        self.b_upper = [(w[2] + w[3]) * half for w in weights[1:]]
        self.head_w = np.ascontiguousarray(array(model.head.weight).T)  # [H or D, V]
        self.head_b = array(model.head.bias)
        if model.config.head_size:  # fold the linear Dense [H, D] into the output: [H, V]
            dense_w, dense_b = array(model.dense.weight).T, array(model.dense.bias)
            self.head_w, self.head_b = dense_w @ self.head_w, dense_b @ self.head_w + self.head_b
        self.hidden = model.config.hidden_size
        self.state: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self, batch_size: int) -> None:
        zeros = np.zeros((batch_size, self.hidden), dtype=np.float32)
        self.state = [(zeros, zeros) for _ in range(1 + len(self.w_upper))]

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids [B] -> logits [B, V]; advances the state."""
        size = self.hidden
        x = None
        for layer, (h, c) in enumerate(self.state):
            if layer == 0:
                gates = self.table[ids] + h @ self.w_hh0  # [B, 4H], PyTorch order i, f, g, o
            else:
                xh = np.concatenate([x, h], axis=1)  # [B, 2H]
                gates = xh @ self.w_upper[layer - 1] + self.b_upper[layer - 1]
            t = np.tanh(gates)  # i, f, o were halved: tanh(z / 2); g: tanh(g)
            sig = t * 0.5 + 0.5  # the sigmoids of i, f and o (the g slice is not used)
            c = sig[:, size : 2 * size] * c + sig[:, :size] * t[:, 2 * size : 3 * size]
            x = sig[:, 3 * size :] * np.tanh(c)
            self.state[layer] = (x, c)
        return x @ self.head_w + self.head_b


class TorchStepper:
    """Steps a model with `initial_state(B)` and `step(ids, state)` in torch (GPU, other kinds)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.state = None

    def reset(self, batch_size: int) -> None:
        self.state = self.model.initial_state(batch_size)

    @torch.inference_mode()
    def step(self, ids: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(ids).to(self.device)
        logits, self.state = self.model.step(tensor, self.state)
        return logits.float().cpu().numpy()


def make_stepper(model: nn.Module) -> NumpyLSTMStepper | TorchStepper:
    """The fastest stepper for `model`: numpy for LSTMs on the CPU, torch otherwise."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    if isinstance(model, LSTMModel) and on_cpu:
        return NumpyLSTMStepper(model)
    return TorchStepper(model)


def sampling_threads(
    model: nn.Module, batch_size: int, budget: int | None = None
) -> contextlib.AbstractContextManager[None]:
    """BLAS threads for sampling `batch_size` tunes with `model` on the CPU: one for the small
    products of a small batch (more threads only wait on each other, or spin against other
    programs), up to `budget` for large ones. A no-op for models that sample in torch."""
    if not isinstance(model, LSTMModel) or next(model.parameters()).device.type != "cpu":
        return contextlib.nullcontext()
    hidden = model.config.hidden_size
    return blas_threads(product_threads(batch_size, 2 * hidden, 4 * hidden, budget))


def with_model_defaults(options: SamplingOptions, meta: dict) -> SamplingOptions:
    """`options` with the model's default temperature (stored by `tunegen export` in a
    checkpoint's meta["sampling"]; else 1) where none was chosen."""
    if options.temperature is not None:
        return options
    return replace(options, temperature=meta.get("sampling", {}).get("temperature", 1.0))


def choose(logits: np.ndarray, options: SamplingOptions, noise: np.ndarray) -> np.ndarray:
    """One id per row from logits [B, V] with temperature, top-k and top-p.

    Gumbel-max: argmax(scores + Gumbel noise) is a draw from softmax(scores); `noise` is [B, V].
    """
    scores = logits / options.temperature if options.temperature != 1.0 else logits
    vocab_size = scores.shape[1]
    if 0 < options.top_k < vocab_size:
        kth = np.partition(scores, vocab_size - options.top_k, axis=1)[:, -options.top_k]
        scores = np.where(scores < kth[:, None], -np.inf, scores)
    if options.top_p < 1.0:
        order = np.argsort(-scores, axis=1)
        ranked = np.take_along_axis(scores, order, axis=1)
        probs = np.exp(ranked - ranked[:, :1])
        probs /= probs.sum(axis=1, keepdims=True)
        before = np.cumsum(probs, axis=1) - probs  # mass of strictly more likely symbols
        cut = np.empty_like(scores)
        np.put_along_axis(cut, order, np.where(before >= options.top_p, -np.inf, 0.0), axis=1)
        scores = scores + cut
    return np.argmax(scores + noise, axis=1)


class GumbelNoise:
    """Gumbel noise drawn in blocks of steps: one generator call per block, not per step."""

    def __init__(self, seed: int | None, shape: tuple[int, int], block: int = 256) -> None:
        self.rng, self.shape, self.block = np.random.default_rng(seed), shape, block
        self.buffer = np.empty((0, *shape), dtype=np.float32)
        self.used = 0

    def next(self) -> np.ndarray:
        if self.used == len(self.buffer):
            self.buffer = self.rng.gumbel(size=(self.block, *self.shape)).astype(np.float32)
            self.used = 0
        self.used += 1
        return self.buffer[self.used - 1]


@dataclass(frozen=True)
class HeaderPlan:
    """Header fields to impose on every tune; the model writes the rest of the header itself."""

    title: str | None = None
    meter: str | None = None
    key: str | None = None
    rhythm: str | None = None  # R:, written after the metre (form control's --rhythm)

    def validate(self) -> None:
        """UsageError for a value that is not one ABC header line of its kind: a title with a
        line break would inject header fields, a metre like 7/0 or a key like Xyz would be
        written verbatim into every tune and refused by every renderer."""
        for name, value in (("title", self.title), ("meter", self.meter), ("key", self.key)):
            if value is not None and (not value.isprintable() or not value.strip()):
                raise UsageError(f"--{name} must be one line of printable text, got {value!r}")
        if self.meter is not None:
            match = _METER.fullmatch(self.meter.strip())
            numbers = re.findall(r"\d+", self.meter)
            if not match or any(int(n) == 0 for n in numbers):
                raise UsageError(
                    f"--meter must be C, C|, none or beats/unit such as 6/8 or 2+3/8, "
                    f"got {self.meter!r}"
                )
        if self.key is not None:
            try:
                check_key(self.key)
            except ValueError:
                raise UsageError(
                    f"--key {self.key!r} is not an ABC key (e.g. D, Ador, Bm)"
                ) from None

    def opening(self) -> str:
        """Forced text at the start of a tune: the title line (or "T:"), then metre and rhythm."""
        if self.title is None:
            return "T:" if self.meter or self.rhythm else ""
        return f"T:{self.title}\n{self._metre_lines()}"

    def _metre_lines(self) -> str:
        meter = f"M:{self.meter}\n" if self.meter else ""
        return meter + (f"R:{self.rhythm}\n" if self.rhythm else "")


# An M: value (ABC 2.1 section 3.1.6): C, C|, none, or a (possibly additive) fraction.
_METER = re.compile(r"C\|?|none|\(?\d{1,3}(?:\+\d{1,3})*\)?/\d{1,3}")

# Header fields a tune may open with (ABC 2.1 section 3): X: is numbered by the tunebook.
HEADER_FIELDS = "ABCDFGHIKLMNOPQRSTUVWZ"
MAX_HEADER_LINES = 8  # then K: is forced, so every tune gets to its music


def header_starts(vocab: Vocabulary) -> np.ndarray:
    """Mask [V] of the symbols that may open a header line: a field letter or a "K:" token."""
    return np.array(
        [
            len(s) <= 2 and s[:1] in HEADER_FIELDS and s[1:] in ("", ":") and i > 0
            for i, s in enumerate(vocab.symbols)
        ]
    )


class _RowConstraint:
    """Per-tune header grammar and forced text.

    Every header line is a field: it opens with a field letter and a colon; no tune ends in its
    header; after MAX_HEADER_LINES lines without K: the K: line is forced, so every tune has its
    key before its music. The plan forces its text: the opening, the meter after a free title,
    the key after "K:".
    """

    def __init__(self, plan: HeaderPlan, vocab: Vocabulary, starts: np.ndarray) -> None:
        self.plan, self.vocab, self.starts = plan, vocab, starts
        self.not_end = np.arange(len(vocab)) != vocab.end_id
        self.pending: list[int] = list(vocab.encode(plan.opening()))[::-1]
        self.meter_after_title = plan.title is None and bool(plan.meter or plan.rhythm)
        self.line = ""
        self.lines = 0
        self.in_header = True

    def forced(self) -> int | None:
        """The symbol this step must be, if any (call once per step)."""
        if not self.pending and self.line == "" and self.lines >= MAX_HEADER_LINES:
            self._queue("K:")
        if not self.pending and len(self.line) == 1:
            self._queue(":")  # a field letter is followed by its colon
        return self.pending.pop() if self.pending else None

    def allowed(self) -> np.ndarray:
        """Mask [V] of the symbols the model may choose from now: no tune ends in its header."""
        return self.starts if self.line == "" else self.not_end

    def observe(self, symbol: str) -> None:
        """Update after `symbol` was emitted; queue forced text when a trigger is reached."""
        if symbol != "\n":
            self.line += symbol
            if self.line == "K:" and self.plan.key is not None and not self.pending:
                self._queue(f"{self.plan.key}\n")
            return
        if self.line.startswith("K:"):
            self.in_header = False
        elif self.meter_after_title and self.line.startswith("T:"):
            self.meter_after_title = False
            self._queue(self.plan._metre_lines())
        self.line = ""
        self.lines += 1

    def _queue(self, text: str) -> None:
        self.pending = list(self.vocab.encode(text))[::-1]


def sample_tunes(
    model: nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    primer: str = "",
    plan: HeaderPlan | None = None,
    form: FormPlan | None = None,
    grammar: bool = True,
    stats: GrammarStats | None = None,
) -> list[str]:
    """Sample `num_tunes` tunes as one batch; each ends at its end-of-tune or at max_symbols.

    With `grammar` (ABC models only), every tune is kept well formed as it is written (see
    `tunegen.sampling.grammar`) and follows `form`; `stats` collects what that took. Without it, the
    model writes freely: only the header rules of `_RowConstraint` apply.
    """
    options.validate()
    if num_tunes < 1:
        raise UsageError(f"--num-tunes must be >= 1, got {num_tunes}")
    plan, form = resolve_plans(plan or HeaderPlan(), form or FormPlan())
    if form.active and (not grammar or vocab.tokenizer == "words"):
        raise UsageError("--form needs grammar-aware sampling of an ABC model (not --free)")
    if grammar and vocab.tokenizer != "words":
        from tunegen.sampling.grammar import sample_grammar  # local: grammar builds on this module

        return sample_grammar(
            model, vocab, num_tunes, options, primer, plan, form, stats or GrammarStats()
        )
    primer_ids = vocab.encode(primer)
    stepper = make_stepper(model)
    stepper.reset(num_tunes)
    noise = GumbelNoise(options.seed, (num_tunes, len(vocab)))
    logits = stepper.step(np.full(num_tunes, vocab.end_id))
    for symbol in primer_ids:
        logits = stepper.step(np.full(num_tunes, symbol))
    rows = _header_rows(plan, vocab, num_tunes, primer)
    in_header = {b: row for b, row in enumerate(rows) if row.in_header}  # rows still to watch
    out = np.zeros((num_tunes, options.max_symbols), dtype=np.int64)
    finished = np.zeros(num_tunes, dtype=bool)
    length = 0
    for length in range(1, options.max_symbols + 1):
        in_header = {b: row for b, row in in_header.items() if row.in_header}
        forced: dict[int, int | None] = {}
        for b, row in in_header.items():
            forced[b] = row.forced()
            if forced[b] is None:
                logits[b, ~row.allowed()] = -np.inf
        ids = choose(logits, options, noise.next())
        for b, symbol in forced.items():
            ids[b] = ids[b] if symbol is None else symbol
            rows[b].observe(vocab.symbols[ids[b]])
        ids[finished] = vocab.end_id
        out[:, length - 1] = ids
        finished |= ids == vocab.end_id
        if finished.all():
            break
        logits = stepper.step(ids)
    return [primer + vocab.decode(_until_end(row[:length])) for row in out]


def resolve_plans(plan: HeaderPlan, form: FormPlan) -> tuple[HeaderPlan, FormPlan]:
    """Check the form options against the header ones; the rhythm's R: and usual metre (unless
    a metre was given) go into the header plan."""
    form.validate(plan.meter)
    if form.rhythm is None:
        return plan, form
    return replace(plan, meter=plan.meter or form.meter(), rhythm=form.rhythm), form


def _header_rows(
    plan: HeaderPlan, vocab: Vocabulary, num_tunes: int, primer: str
) -> list[_RowConstraint]:
    """One header constraint per tune for ABC models (none for word streams such as MIDI), each
    having read the primer, so a primer that writes the header leaves the model free after it."""
    if vocab.tokenizer == "words":
        return []
    starts = header_starts(vocab)
    primer_symbols = [vocab.symbols[i] for i in vocab.encode(primer)]
    rows = [_RowConstraint(plan, vocab, starts) for _ in range(num_tunes)]
    for row in rows:
        for symbol in primer_symbols:
            row.observe(symbol)
    return rows


def _until_end(ids: Sequence[int]) -> list[int]:
    ids = list(ids)
    return ids[: ids.index(0)] if 0 in ids else ids


def chunk_seed(seed: int | None, index: int) -> int | None:
    """The seed of chunk `index`: the given seed for the first, then one derived from both."""
    if seed is None or index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class GrammarStats:
    """What grammar-aware sampling did: bars sampled again, tunes restarted or given up."""

    retries: int = 0  # bars (or header lines) sampled again from their start
    restarts: int = 0  # tunes started again after MAX_TRIES bad tries of one bar
    repaired: int = 0  # tune ends mended: the last bar line made ":|" or "|]"
    gave_up: int = 0  # tunes left to the model alone after MAX_RESTARTS restarts
    masked_steps: int = 0  # row-steps where a mask removed symbols
    steps: int = 0  # batch steps, backtracked ones included
    reasons: dict[str, int] = field(default_factory=dict)  # why bars were sampled again

    def merge(self, other: GrammarStats) -> None:
        """Add another batch's counts to these."""
        for name in ("retries", "restarts", "repaired", "gave_up", "masked_steps", "steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"grammar: {self.retries} bars sampled again, {self.restarts} tunes restarted, "
            f"{self.repaired} endings mended, {self.gave_up} left unchecked"
        )


@dataclass
class Composition:
    """Sampled tunes as a tunebook, with what happened to each."""

    tunebook: str
    texts: list[str]
    truncated: int
    chars: int
    seconds: float
    grammar: GrammarStats | None = None  # None: sampled with --free

    @property
    def chars_per_s(self) -> float:
        return self.chars / max(self.seconds, 1e-9)


def compose(
    model: nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    primer: str = "",
    plan: HeaderPlan | None = None,
    threads: int | None = None,
    form: FormPlan | None = None,
    grammar: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Composition:
    """Sample tunes and assemble a tunebook that never fails on a bad sample; `threads` caps
    the BLAS threads (default: the process's count, see tunegen.runtime.threads).

    The tunes are sampled in chunks of chunk_size(V) rows, chunk i with seed
    chunk_seed(options.seed, i), so memory stays flat for any N (and N <= one chunk is exactly
    one sample_tunes call with the given seed). `progress(done, total)` is told after each chunk.
    """
    options.validate()
    (plan or HeaderPlan()).validate()
    if not 1 <= num_tunes <= MAX_NUM_TUNES:
        raise UsageError(f"--num-tunes must be in [1, {MAX_NUM_TUNES:,}], got {num_tunes}")
    start = time.perf_counter()
    size = chunk_size(len(vocab))
    texts: list[str] = []
    stats = GrammarStats() if grammar and vocab.tokenizer != "words" else None
    with sampling_threads(model, min(num_tunes, size), threads):
        for index, first in enumerate(range(0, num_tunes, size)):
            count = min(size, num_tunes - first)
            chunk_options = replace(options, seed=chunk_seed(options.seed, index))
            texts += sample_tunes(
                model, vocab, count, chunk_options, primer, plan, form, grammar, stats
            )
            if progress is not None:
                progress(len(texts), num_tunes)
    seconds = time.perf_counter() - start
    notes = [
        f"stopped at --max-chars {options.max_symbols} before the end of the tune"
        if len(text) - len(primer) >= options.max_symbols
        else None
        for text in texts
    ]
    chars = sum(len(text) - len(primer) for text in texts)
    truncated = sum(note is not None for note in notes)
    tunebook = tunebook_from_texts(texts, notes)
    return Composition(tunebook, texts, truncated, chars, seconds, stats)
