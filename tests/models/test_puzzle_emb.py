"""Puzzle embeddings: prefix tokens, zero init, gradients only for the batch's rows."""

import pytest
import torch

from ponder.config import config_from_dict
from ponder.errors import UserError
from ponder.models import DataSpec, build_model
from ponder.models.embedding import PuzzleEmbedding
from ponder.models.hrm import HRMConfig
from ponder.models.trm import TRMConfig

SPEC = DataSpec(vocab_size=6, seq_len=49, grid_shape=(7, 7), num_puzzle_identifiers=10)


def _batch(ids):
    ids = torch.tensor(ids)
    return {"inputs": torch.randint(0, 6, (len(ids), 49)), "puzzle_identifiers": ids}


@pytest.mark.parametrize("pos", ["rope", "rope2d", "learned"])
def test_trm_prepends_puzzle_tokens(pos):
    cfg = TRMConfig(
        hidden_size=32, num_heads=2, ffn_multiple_of=16, n=2, T=2, puzzle_emb_len=4,
        pos_encoding=pos, attn_window=1,
    )  # fmt: skip
    model = build_model(cfg, SPEC)
    table = model.embed.puzzle.weight
    assert table.shape == (10, 32) and not table.any()  # zero-initialised, one row per id
    assert "embed.puzzle.weight" in model.state_dict()
    assert all(p is not table for p in model.parameters())  # not in the dense optimizer
    carry, out = model(model.init_carry(3, "cpu"), _batch([1, 2, 1]))
    assert carry.z.shape == (3, 4 + 49, 32)
    assert out.logits.shape == (3, 49, 6)  # the answer covers the grid only


def test_gradient_reaches_only_the_batch_rows():
    cfg = HRMConfig(hidden_size=32, num_heads=2, ffn_multiple_of=16, H_layers=1, L_layers=1)
    model = build_model(cfg.model_copy(update={"puzzle_emb_len": 1}), SPEC)
    emb = model.embed.puzzle
    emb.weight.normal_()  # non-zero, so the prefix matters
    _, out = model(model.init_carry(3, "cpu"), _batch([7, 2, 7]))
    out.logits.float().sum().backward()
    assert emb.rows.shape == (3, 32) and emb.rows.grad is not None
    assert emb.ids.tolist() == [7, 2, 7]
    assert emb.weight.grad is None  # no dense gradient over the table


def test_no_rows_are_kept_without_gradient():
    emb = PuzzleEmbedding(5, 8, 2, 8)
    with torch.no_grad():
        out = emb(torch.tensor([0, 3]))
    assert out.shape == (2, 2, 8) and emb.rows is None
    assert not out[:, 1].any()  # an 8-d vector in 2 x 8 slots: the second token is padding


def test_conv_mixer_refuses_puzzle_tokens():
    with pytest.raises(UserError, match="puzzle_emb_len"):
        config_from_dict({"model": {"name": "trm", "mixer": "conv", "puzzle_emb_len": 1}})
