"""Models: shapes and parameter counts per preset, and the step paths against forward()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunegen.errors import UsageError
from tunegen.models import PRESETS, build_model, parameter_count, preset
from tunegen.models.stepping import NumpyLSTMStepper
from tunegen.models.summary import format_summary, model_summary

VOCAB = 90
LSTM_PRESETS = sorted(n for n, p in PRESETS.items() if p["model"].get("kind", "lstm") == "lstm")


def lstm_params(inputs: int, hidden: int) -> int:
    return 4 * hidden * (inputs + hidden) + 8 * hidden


@pytest.mark.parametrize("name", LSTM_PRESETS)
def test_shapes_per_preset(name):
    config = PRESETS[name]["model"]
    model = build_model({"vocab_size": VOCAB, **config}).eval()
    logits, state = model(torch.randint(0, VOCAB, (2, 7)))
    assert logits.shape == (2, 7, VOCAB)
    assert len(state) == config["num_layers"]
    assert state[0][0].shape == (2, config["hidden_size"])
    e, h, n = config["embedding_size"], config["hidden_size"], config["num_layers"]
    d = config.get("head_size", 0)
    head = h * d + d + d * VOCAB + VOCAB if d else h * VOCAB + VOCAB
    expected = VOCAB * e + lstm_params(e, h) + (n - 1) * lstm_params(h, h) + head
    assert parameter_count(model) == expected
    assert sum(row[3] for row in model_summary(model)) == expected


def test_seed_preset_is_the_write_up():
    assert PRESETS["seed"]["model"] == {
        "embedding_size": 512,
        "hidden_size": 256,
        "num_layers": 3,
        "dropout": 0.2,
    }
    assert PRESETS["mit"]["model"]["hidden_size"] == 1024
    with pytest.raises(UsageError, match="unknown preset 'huge'"):
        preset("huge")


@pytest.mark.parametrize("name", LSTM_PRESETS)
def test_step_paths_match_forward(name):
    torch.manual_seed(0)
    model = build_model({"vocab_size": VOCAB, **PRESETS[name]["model"]}).eval()
    ids = torch.randint(0, VOCAB, (3, 12))
    with torch.no_grad():
        reference, _ = model(ids)
        state = model.initial_state(3)
        stepped = []
        for t in range(12):
            logits, state = model.step(ids[:, t], state)
            stepped.append(logits)
    assert torch.allclose(torch.stack(stepped, 1), reference, atol=1e-5)
    fast = NumpyLSTMStepper(model)
    fast.reset(3)
    numpy_logits = np.stack([fast.step(ids[:, t].numpy()) for t in range(12)], 1)
    assert np.allclose(numpy_logits, reference.numpy(), atol=1e-4)


def test_seed003_preset_is_the_write_up_and_dense_is_optional():
    shape = PRESETS["seed003"]["model"]
    assert (shape["hidden_size"], shape["num_layers"], shape["dropout"]) == (512, 3, 0.3)
    assert shape["head_size"] == 256 and PRESETS["seed003"]["training"]["seq_len"] == 100
    dense = build_model({"vocab_size": VOCAB, **shape})
    assert dense.dense.out_features == 256 and dense.head.in_features == 256
    # a config without head_size (every checkpoint before it) has no dense layer or its weights
    plain = build_model({"vocab_size": VOCAB, "hidden_size": 32, "num_layers": 1})
    assert not any(key.startswith("dense") for key in plain.state_dict())


def test_summary_lists_each_lstm_layer():
    model = build_model({"vocab_size": VOCAB, **PRESETS["seed"]["model"]})
    table = format_summary(model_summary(model))
    assert "lstm.2" in table and "(batch, time, 256)" in table and "total" in table


def tiny_transformer(context: int = 8):
    torch.manual_seed(0)
    config = {"kind": "transformer", "d_model": 16, "num_heads": 2, "num_layers": 2}
    return build_model({"vocab_size": VOCAB, **config, "context": context}).eval()


def test_transformer_shapes_and_parameters():
    d, layers = 16, 2
    model = tiny_transformer()
    logits, memory = model(torch.randint(0, VOCAB, (3, 5)))
    assert logits.shape == (3, 5, VOCAB) and len(memory) == layers
    assert memory[0][0].shape == (3, 2, 5, d // 2)  # [B, heads, T, head size]
    block = 12 * d * d + 13 * d  # qkv, projection, 4x MLP, two layer norms
    expected = VOCAB * d + layers * block + 2 * d  # the head shares the embedding's weights
    assert parameter_count(model) == expected
    assert sum(row[3] for row in model_summary(model)) == expected
    with pytest.raises(UsageError, match=r"^hidden_size does not apply to a transformer model"):
        build_model({"vocab_size": VOCAB, "kind": "transformer", "hidden_size": 8})


def test_transformer_chunks_with_memory_match_steps():
    """Two chunks with the first one's memory give the logits of one symbol at a time."""
    model = tiny_transformer(context=8)
    ids = torch.randint(0, VOCAB, (2, 16))
    with torch.no_grad():
        first, memory = model(ids[:, :8])
        second, memory = model(ids[:, 8:], memory)
        assert memory[0][0].shape[2] == 8  # the memory keeps `context` keys
        state, stepped = model.initial_state(2), []
        for t in range(16):
            logits, state = model.step(ids[:, t], state)
            stepped.append(logits)
    assert torch.allclose(torch.cat([first, second], 1), torch.stack(stepped, 1), atol=1e-5)
