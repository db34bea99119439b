"""PoH: routing weights are distributions, the entropy statistic is what it says, and
uniform routing is plain multi-head attention."""

import math

import pytest
import torch

from ponder.config import config_from_dict
from ponder.errors import UserError
from ponder.models import DataSpec, build_model
from ponder.models.attention import Attention
from ponder.models.poh import PoHConfig, route_weights, routing_entropy

SPEC = DataSpec(vocab_size=6, seq_len=49, grid_shape=(7, 7))


def _poh(**kw):
    base = dict(hidden_size=32, num_heads=4, ffn_multiple_of=16, num_layers=2, R=3)
    return build_model(PoHConfig(**{**base, **kw}), SPEC)


def _batch(b=2):
    return {"inputs": torch.randint(0, 6, (b, 49))}


def _captured_weights(model, batch):
    seen = []
    handle = model.router.register_forward_hook(lambda m, a, out: seen.append(out[0]))
    _, out = model(model.init_carry(2, "cpu"), batch)
    handle.remove()
    return seen, out


@pytest.mark.parametrize("topk", [0, 2])
def test_routing_weights_sum_to_one_and_entropy_matches(topk):
    torch.manual_seed(0)
    model = _poh(route_topk=topk)
    seen, out = _captured_weights(model, _batch())
    assert len(seen) == 3 and out.stats["route_entropy"].shape == (3,)
    for r, w in enumerate(seen):
        assert w.shape == (2, 49, 4)
        assert torch.allclose(w.sum(-1), torch.ones(2, 49), atol=1e-6)
        if topk:
            assert ((w > 0).sum(-1) <= topk).all()
        p = w.double()
        direct = -(p * torch.where(p > 0, p.log(), 0)).sum(-1).mean()
        assert torch.allclose(out.stats["route_entropy"][r].double(), direct, atol=1e-6)


def test_entropy_of_known_distributions():
    uniform = torch.full((1, 1, 4), 0.25)
    one_hot = torch.tensor([[[1.0, 0, 0, 0]]])
    assert math.isclose(float(routing_entropy(uniform)), math.log(4), rel_tol=1e-6)
    assert float(routing_entropy(one_hot)) == 0.0


def test_temperature_floor_and_topk():
    logits = torch.tensor([[4.0, 1.0, 0.0, -1.0]])
    sharp = route_weights(logits, 0.1, 0)
    assert sharp[0, 0] > 0.99
    top2 = route_weights(logits, 1.0, 2)
    assert (top2[0, 2:] == 0).all() and torch.isclose(top2.sum(), torch.tensor(1.0))
    model = _poh(route_temperature=0.01, route_temperature_floor=0.5)
    assert float(model.router.temperature().detach()) == 0.5


def test_uniform_routing_is_plain_attention():
    torch.manual_seed(0)
    attn = Attention(32, 4)
    x = torch.randn(2, 10, 32)
    uniform = torch.full((2, 10, 4), 0.25)
    assert torch.allclose(attn(x, None, None, uniform), attn(x, None, None), atol=1e-6)


def test_forward_backward_and_config_checks():
    model = _poh()
    _, out = model(model.init_carry(2, "cpu"), _batch())
    assert out.logits.shape == (2, 49, 6)
    (out.logits.mean() + out.q_halt.mean() + out.stats["route_entropy"].mean()).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(UserError, match="mixer"):
        config_from_dict({"model": {"name": "poh", "mixer": "conv"}})
