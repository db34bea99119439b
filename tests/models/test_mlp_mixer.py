"""TRM's MLP mixer over the sequence axis (`model.mixer: mlp`)."""

from __future__ import annotations

import pytest
import torch

from ponder.config import load_config
from ponder.models import DataSpec, build_model, count_parameters, size_bound_reason
from ponder.models.feedforward import rms_norm
from ponder.models.hrm import HRMConfig
from ponder.models.mixers import SequenceMLP
from ponder.models.transformer import TransformerConfig
from ponder.models.trm import TRMConfig
from ponder.models.trunk import Block

SPEC = DataSpec(vocab_size=11, seq_len=36, grid_shape=(6, 6))


def test_it_mixes_positions_and_not_channels():
    torch.manual_seed(0)
    mixer = SequenceMLP(10, expansion=4.0, multiple_of=16)
    x = torch.randn(2, 10, 8, requires_grad=True)  # (B, L, D)
    out = mixer(x)
    assert out.shape == (2, 10, 8)
    out[0, 3, 5].backward()
    grad = x.grad[0]  # (L, D)
    assert grad[:, 5].abs().sum() > 0 and (grad[:, 5] != 0).sum() > 1  # many positions feed it
    assert grad[:, [c for c in range(8) if c != 5]].abs().sum() == 0  # no other channel does
    with pytest.raises(ValueError, match="built for 10 positions, got 9"):
        mixer(torch.randn(2, 9, 8))


@pytest.mark.parametrize("emb", [0, 4])
@pytest.mark.parametrize(
    "config",
    [
        TRMConfig(
            hidden_size=32,
            num_heads=2,
            ffn_multiple_of=16,
            n=2,
            T=2,
            mixer="mlp",
            pos_encoding="none",
        ),  # fmt: skip
        HRMConfig(
            hidden_size=32,
            num_heads=2,
            ffn_multiple_of=16,
            H_layers=1,
            L_layers=1,
            mixer="mlp",
            pos_encoding="none",
        ),  # fmt: skip
        TransformerConfig(
            hidden_size=32,
            num_heads=2,
            num_layers=2,
            ffn_multiple_of=16,
            mixer="mlp",
            pos_encoding="none",
        ),  # fmt: skip
    ],
)
def test_models_run_with_the_mlp_mixer(config, emb):
    model = build_model(config.model_copy(update={"puzzle_emb_len": emb}), SPEC)
    batch = {"inputs": torch.randint(0, 11, (3, 36)), "puzzle_identifiers": torch.zeros(3, dtype=torch.long)}  # fmt: skip
    carry, out = model(model.init_carry(3, "cpu"), batch)
    assert out.logits.shape == (3, 36, 11)
    out.logits.float().mean().backward()
    mixers = [m for m in model.modules() if isinstance(m, SequenceMLP)]
    assert mixers and all(m.length == 36 + emb for m in mixers)
    assert all(m.mlp.gate_up.weight.grad is not None for m in mixers)


def test_the_mlp_mixer_is_size_bound():
    config = TRMConfig(mixer="mlp", pos_encoding="none")
    assert "MLP mixer" in size_bound_reason(config)
    assert size_bound_reason(TRMConfig(mixer="conv", pos_encoding="none")) is None


def test_paper_recipe_has_trms_5m_parameters():
    config = load_config("configs/trm_sudoku_extreme.yaml").model
    with torch.device("meta"):
        model = build_model(config, DataSpec(vocab_size=11, seq_len=81, grid_shape=(9, 9)))
    assert 4.9e6 < count_parameters(model) < 5.2e6  # TRM reports 5M for its MLP Sudoku model


def test_the_sequence_norm_normalises_each_channel_over_the_positions():
    """mlp_mixer_norm 'sequence' (the official TRM's mlp_t) normalises x + mix(x) over the
    positions of each channel; 'hidden' (the default) over the channels of each position."""
    torch.manual_seed(0)
    x = torch.randn(2, 10, 8)  # (B, L, D)
    hidden = Block(8, 2, 4.0, 16, mlp_length=10)
    sequence = Block(8, 2, 4.0, 16, mlp_length=10, mix_norm_over_sequence=True)
    sequence.load_state_dict(hidden.state_dict())
    mixed = x + hidden.attn(x)
    normed = {
        "hidden": rms_norm(mixed),
        "sequence": rms_norm(mixed.transpose(1, 2)).transpose(1, 2),
    }
    for block, h in ((hidden, normed["hidden"]), (sequence, normed["sequence"])):
        assert torch.allclose(block(x, None, None), rms_norm(h + block.mlp(h)), atol=1e-6)
    assert not torch.allclose(hidden(x, None, None), sequence(x, None, None), atol=1e-2)


def test_the_sequence_norm_is_off_by_default_and_needs_the_mlp_mixer():
    assert TRMConfig(mixer="mlp").mlp_mixer_norm == "hidden"
    config = TRMConfig(hidden_size=32, num_heads=2, mixer="mlp", mlp_mixer_norm="sequence")
    model = build_model(config, SPEC)
    assert all(b.mix_norm_over_sequence for b in model.net.blocks)
    with pytest.raises(ValueError, match="needs mixer 'mlp'"):
        TRMConfig(mlp_mixer_norm="sequence")
