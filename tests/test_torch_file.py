"""Checkpoints read without torch: `read_torch_file` gives what torch.load gives, refuses what it
does not know (torch then reads it, or names the problem), and `tunegen generate` samples the same
tunes from the numpy weights without importing torch."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tunegen.errors import CheckpointError
from tunegen.models import build_model
from tunegen.models.checkpoint import (
    BUNDLED_MODEL,
    load_checkpoint,
    load_for_sampling,
    weights_digest,
    write_checkpoint,
)
from tunegen.models.numpy_lstm import NumpyLSTM
from tunegen.models.torch_file import Unreadable, read_torch_file
from tunegen.sampling.sampler import SamplingOptions, compose


def same(plain, loaded) -> None:
    """`plain` (read_torch_file) holds what `loaded` (torch.load) holds, tensors as arrays."""
    if isinstance(loaded, torch.Tensor):
        assert isinstance(plain, np.ndarray) and plain.flags.writeable
        assert plain.shape == tuple(loaded.shape)
        assert plain.tobytes() == loaded.contiguous().numpy().tobytes()
    elif isinstance(loaded, dict):
        assert list(plain) == list(loaded)
        for key in loaded:
            same(plain[key], loaded[key])
    elif isinstance(loaded, list | tuple):
        assert type(plain) is type(loaded) and len(plain) == len(loaded)
        for a, b in zip(plain, loaded, strict=True):
            same(a, b)
    else:
        assert plain == loaded


def test_bundled_and_training_checkpoints_read_as_torch_reads_them(trained):
    for path in (BUNDLED_MODEL, trained / "last.ckpt"):
        same(read_torch_file(path), torch.load(path, map_location="cpu", weights_only=True))


def test_views_shared_storages_and_every_plain_dtype(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    value = {
        "t": base.t(),  # not contiguous
        "row": base[2],  # an offset into the same storage
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        **{str(d): torch.ones(3, dtype=d) for d in (torch.float16, torch.int64, torch.bool,
                                                    torch.int8, torch.uint8, torch.int32)},
        "nested": [1, "two", (3.0, None)],
    }  # fmt: skip
    torch.save(value, tmp_path / "x.pt")
    same(read_torch_file(tmp_path / "x.pt"), torch.load(tmp_path / "x.pt", weights_only=True))


def test_what_it_does_not_know_is_unreadable_and_never_run(tmp_path):
    torch.save({"w": torch.ones(2, dtype=torch.bfloat16)}, tmp_path / "bf16.pt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    for path in (tmp_path / "bf16.pt", tmp_path / "text.ckpt"):
        with pytest.raises(Unreadable):
            read_torch_file(path)
    # a torch.save layout whose pickle calls os.system: refused before anything runs
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Hostile(f"touch {marker}"))
    with zipfile.ZipFile(tmp_path / "hostile.ckpt", "w") as archive:
        archive.writestr("hostile/data.pkl", payload)
        archive.writestr("hostile/byteorder", "little")
    with pytest.raises(Unreadable, match=r"(posix|os)\.system"):
        read_torch_file(tmp_path / "hostile.ckpt")
    with pytest.raises(CheckpointError, match=r"hostile\.ckpt: not a readable checkpoint"):
        load_for_sampling(tmp_path / "hostile.ckpt")
    assert not marker.exists()


class _Hostile:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_digest_is_the_same_for_arrays_and_tensors(trained):
    loaded = torch.load(trained / "last.ckpt", weights_only=True)["state_dict"]
    plain = read_torch_file(trained / "last.ckpt")["state_dict"]
    assert weights_digest(plain) == weights_digest(loaded)


def test_sampling_from_the_numpy_weights_writes_the_same_tunes(trained):
    for path in (BUNDLED_MODEL, trained / "last.ckpt"):
        fast, slow = load_for_sampling(path), load_checkpoint(path)
        assert isinstance(fast.model, NumpyLSTM)
        same(fast.meta, slow.meta)
        for free in (False, True):
            options = SamplingOptions(temperature=0.9, seed=4, max_symbols=400)
            a = compose(fast.model, fast.vocab, 5, options, grammar=not free).tunebook
            b = compose(slow.model, slow.vocab, 5, options, grammar=not free).tunebook
            assert a == b


def test_other_models_and_damaged_files_go_through_torch(tmp_path, trained):
    raw = torch.load(trained / "last.ckpt", weights_only=True)
    config = {"kind": "transformer", "vocab_size": raw["tunegen"]["model"]["vocab_size"],
              "d_model": 8, "num_heads": 2, "num_layers": 1, "context": 8}  # fmt: skip
    transformer = build_model(config)
    meta = {k: v for k, v in raw["tunegen"].items() if k != "weights_sha256"}
    other = {"state_dict": {f"model.{k}": v for k, v in transformer.state_dict().items()},
             "tunegen": {**meta, "model": config}}  # fmt: skip
    write_checkpoint(other, tmp_path / "t.ckpt")
    assert type(load_for_sampling(tmp_path / "t.ckpt").model) is type(transformer)
    # damaged weights, a truncated file, text: the same one-line error from both loaders
    raw["state_dict"]["model.head.bias"][:16] = 1e28  # flipped bits, as on a failing disk
    torch.save(raw, tmp_path / "damaged.ckpt")  # the stored digest is the old weights'
    (tmp_path / "truncated.ckpt").write_bytes((trained / "last.ckpt").read_bytes()[:5000])
    (tmp_path / "text.ckpt").write_text("epoch 1 loss 2.3\n")
    for name in ("damaged", "truncated", "text"):
        errors = []
        for load in (load_checkpoint, load_for_sampling):
            with pytest.raises(CheckpointError) as caught:
                load(tmp_path / f"{name}.ckpt")
            errors.append(str(caught.value))
        assert errors[0] == errors[1] and f"{name}.ckpt: " in errors[0]


def test_generate_never_imports_torch(tmp_path):
    script = (
        "import sys\n"
        "from tunegen.cli import main\n"
        f"code = main(['generate', '--num-tunes', '2', '--seed', '1', '--out', "
        f"{str(tmp_path / 'g.abc')!r}])\n"
        "assert code == 0, code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'lightning' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "g.abc").read_text().count("X:") == 2
