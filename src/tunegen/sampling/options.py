"""How each next symbol is picked: sampling options and their bounds, Gumbel noise, the choice."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.random  # numpy loads it on first use: 5 ms of the first sampling run

from tunegen.errors import Setting, SettingError

# Documented bounds (README, "Limits"). N tunes are sampled in chunks of at most chunk_size(V)
# rows, so memory depends on the chunk, never on N.
MAX_NUM_TUNES = 1_000_000
MAX_SYMBOLS = 100_000  # symbols per tune: characters, or ABC tokens
MAX_TEMPERATURE = 100.0  # far past uniform noise already; NaN and inf are refused with it
# Bytes of one chunk's Gumbel noise for 256 steps, float64 as drawn: it sized the chunks when
# noise came in blocks of 256 steps, and still does (other chunk sizes would change the tunes of
# a seed); blocks are now of 64 steps, so a chunk's noise takes a quarter of it.
NOISE_BUDGET = 128 * 2**20
MAX_CHUNK = 1024


def chunk_size(vocab_size: int) -> int:
    """Rows sampled together: as many as 256 steps of noise [256, B, V] in float64 fit in
    NOISE_BUDGET, at most MAX_CHUNK; ~5,800 for ABC's ~90 symbols would be far past the speed
    gain."""
    return max(1, min(MAX_CHUNK, NOISE_BUDGET // (256 * vocab_size * 8)))


@dataclass(frozen=True)
class SamplingOptions:
    """How to pick each next symbol."""

    temperature: float | None = 1.0  # None: the model's own default (see with_model_defaults)
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1.0: no nucleus cut
    max_symbols: int = 2000  # a tune's length limit, in the model's symbols
    seed: int | None = None
    # a tune's header (through its K: line: metre, key, title) at this temperature, its music at
    # `temperature`; None: the header at `temperature` too
    header_temperature: float | None = None

    def validate(self) -> None:
        # `not 0 < t` also refuses NaN; an infinite temperature would sample nothing but noise
        if self.temperature is None or not 0 < self.temperature <= MAX_TEMPERATURE:
            raise SettingError(
                Setting("temperature"),
                f" must be > 0 and at most {MAX_TEMPERATURE}, got {self.temperature}",
            )
        if self.header_temperature is not None and not (
            0 < self.header_temperature <= MAX_TEMPERATURE
        ):
            raise SettingError(
                Setting("header_temperature"),
                f" must be > 0 and at most {MAX_TEMPERATURE}, got {self.header_temperature}",
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


def with_model_defaults(options: SamplingOptions, meta: dict) -> SamplingOptions:
    """`options` with the model's default temperatures (stored by `tunegen export` in a
    checkpoint's meta["sampling"]) where none was chosen: the music's (else 1), and the header's
    (else the music's). Each is chosen on its own: a chosen music temperature leaves the model's
    header temperature in place."""
    sampling = meta.get("sampling", {})
    temperature, header = options.temperature, options.header_temperature
    return replace(
        options,
        temperature=temperature if temperature is not None else sampling.get("temperature", 1.0),
        header_temperature=header if header is not None else sampling.get("header_temperature"),
    )


def header_scale(options: SamplingOptions) -> float | None:
    """The factor on a header symbol's logits that draws it at the header temperature (choose
    divides by `temperature`); None when the header has the music's temperature."""
    header = options.header_temperature
    if header is None or options.temperature is None or header == options.temperature:
        return None
    return options.temperature / header


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
    return (scores + noise).argmax(axis=1)  # the method: np.argmax's wrapper costs 0.5 us


class GumbelNoise:
    """Gumbel noise [B, V] for each step, whose values depend only on the seed, the step and the
    row. Uniform numbers are drawn for a block of steps at a time (one generator call), and
    turned into noise, also once per block, only for the rows asked for when the block is drawn:
    rows finished by then cost nothing, and those that finish within it waste at most one block.

    The values are those of `Generator.gumbel`, which draws one uniform double u per value and
    returns -log(-log(1 - u)), drawing again for u == 0: a 53-bit draw gives that with
    probability 2^-53, and here it is the largest noise there is (about 744), which wins.
    """

    def __init__(self, seed: int | None, shape: tuple[int, int], block: int = 64) -> None:
        self.rng, self.shape, self.block = np.random.default_rng(seed), shape, block
        self.noise = np.zeros((0, *shape), dtype=np.float32)
        self.used = 0

    def next(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The next step's noise [B, V]; only `rows` (ascending indices, None: every row) are
        sure to hold it, the others may hold anything. A view: the caller must not write it."""
        if self.used == len(self.noise):
            uniform = self.rng.random((self.block, *self.shape))
            if rows is None or len(rows) == self.shape[0]:
                rows = slice(None)
            self.noise = np.zeros((self.block, *self.shape), dtype=np.float32)
            # -log(1 - u) > 0 for every u > 0; u == 0 gives 0, whose log is -inf: the floor
            # makes it the smallest double instead, and leaves every other value as it is
            drawn = np.maximum(-np.log(1.0 - uniform[:, rows]), _TINY)
            self.noise[:, rows] = -np.log(drawn)
            self.used = 0
        self.used += 1
        return self.noise[self.used - 1]


_TINY = np.finfo(np.float64).smallest_subnormal


def chunk_seed(seed: int | None, index: int) -> int | None:
    """The seed of chunk `index`: the given seed for the first, then one derived from both."""
    if seed is None or index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)
