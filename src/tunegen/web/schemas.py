"""The JSON API's request and response models: every input is checked here, with its limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunegen.music.abc import check_key
from tunegen.music.bounds import check_meter

MAX_ABC_CHARS = 100_000
ONE_LINE = r"^[^\r\n]*$"


MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id is a 422, not an overflow


class Strict(BaseModel):
    """Unknown fields are an error, not silently ignored; types are strict (true is not 1, "2"
    is not 2) and numbers finite (NaN and Infinity, which Python's JSON reads, are refused)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _encodable(cls, value: object) -> object:
        if isinstance(value, str):
            try:  # JSON may carry lone surrogates ("\\ud800") that no file or database stores
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text with an unpaired surrogate (not Unicode text)") from None
        return value


class ComposeIn(Strict):
    """What to compose: the model, header fields or a primer, and how to sample."""

    model: str | None = Field(None, max_length=200, description="model name (default: the first)")
    title: str | None = Field(None, max_length=100, pattern=ONE_LINE)
    meter: str | None = Field(None, max_length=20, pattern=ONE_LINE, description="M:, e.g. 6/8")
    key: str | None = Field(None, max_length=40, pattern=ONE_LINE, description="K:, e.g. D or Ador")
    primer: str | None = Field(None, max_length=2000, description="start every tune with this")
    temperature: float | None = Field(
        None,
        gt=0,
        le=5,
        description="the music's; default: the model's own (0.6 for the bundled one, whose "
        "headers are drawn at 0.8), else 1",
    )
    top_k: int = Field(0, ge=0, le=1_000_000, description="sample among the k likeliest (0: all)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass (1: off)")
    max_chars: int = Field(2000, ge=1, le=10_000, description="longest tune in characters")
    num_tunes: int = Field(1, ge=1, le=32)
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="default: a random one, returned in settings"
    )
    rhythm: str | None = Field(None, max_length=40, description="one of the model's rhythms")
    form: str | None = Field(None, max_length=20, description="part letters, e.g. AABB")
    bars_per_part: int | None = Field(None, ge=1, le=64)

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str | None) -> str | None:
        if value:
            check_key(value)  # its ValueError names the key
            if value.strip().lower() == "none":
                raise ValueError("key 'none' names no key to compose in")
        return value

    @field_validator("meter")
    @classmethod
    def _playable_meter(cls, value: str | None) -> str | None:
        if value:
            check_meter(value, allow_free=False)  # its ValueError names the metre and limits
        return value

    @model_validator(mode="after")
    def _primer_or_header(self) -> ComposeIn:
        if self.primer and (self.title or self.meter or self.key):
            raise ValueError("use primer or title/meter/key, not both")
        return self


class Settings(BaseModel):
    """How a tune was composed: everything "compose again like this" needs to get it back.
    `index` is the tune's place (1-based) in its batch of `num_tunes`, sampled with one seed."""

    model: str
    seed: int
    temperature: float
    top_k: int
    top_p: float
    max_chars: int
    num_tunes: int
    index: int = 1
    title: str | None = None
    meter: str | None = None
    key: str | None = None
    primer: str | None = None
    rhythm: str | None = None
    form: str | None = None
    bars_per_part: int | None = None


class ChoicesOut(BaseModel):
    """What a model can be asked for (from its training corpus), and default tempi by beat."""

    model: str
    meters: list[str]
    keys: list[str]
    rhythms: list[str]
    forms: list[str]
    bars_per_part: list[int]
    source: str
    tunes: int
    temperature: float
    default_qpm: float
    default_qpm_by_beat: dict[str, float]


class RenderIn(Strict):
    """ABC text to render (one or more tunes, each starting with X:)."""

    abc: str = Field(min_length=1, max_length=MAX_ABC_CHARS)


class RenderedTuneOut(BaseModel):
    """One rendered tune: its ABC, the URLs of its files by format, and failures by format."""

    number: int
    title: str
    abc: str
    files: dict[str, list[str]]
    failures: dict[str, str]
    truncated: bool = False


class RenderOut(BaseModel):
    """A render job: its id and its tunes."""

    id: str
    synth: str
    tunes: list[RenderedTuneOut]


class ComposeOut(RenderOut):
    """A compose job: the rendered tunes, what sampling took, and how (tune i of the batch has
    these settings with index i)."""

    chars: int
    seconds: float
    truncated: int
    settings: Settings


class ModelOut(BaseModel):
    """A model the page can compose with."""

    name: str
    default: bool


class TuneIn(Strict):
    """A tune to save in the library."""

    name: str = Field(min_length=1, max_length=200, pattern=ONE_LINE)
    abc: str = Field(min_length=1, max_length=MAX_ABC_CHARS)
    starred: bool = False
    model: str = Field("", max_length=200)
    settings: Settings | None = None


class TunePatch(Strict):
    """Changes to a saved tune; fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=ONE_LINE)
    abc: str | None = Field(None, min_length=1, max_length=MAX_ABC_CHARS)
    starred: bool | None = None
