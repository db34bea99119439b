import pytest
import torch

from ponder.models import DataSpec, build_model, count_parameters
from ponder.models.base import carry_where
from ponder.models.feedforward import swiglu_inner_size
from ponder.models.grid import local_window_mask
from ponder.models.rotary import RotaryEmbedding
from ponder.models.transformer import TransformerConfig
from ponder.models.trm import TRMConfig

SPEC = DataSpec(vocab_size=6, seq_len=49, grid_shape=(7, 7))


def _trm(**kw):
    base = dict(hidden_size=32, num_heads=2, ffn_multiple_of=16, n=2, T=2)
    return build_model(TRMConfig(**{**base, **kw}), SPEC)


def _batch(b=3):
    return {"inputs": torch.randint(0, 6, (b, SPEC.seq_len))}


@pytest.mark.parametrize("pos", ["rope", "rope2d", "learned", "none"])
@pytest.mark.parametrize("name", ["trm", "transformer"])
def test_forward_backward_shapes(name, pos):
    if name == "trm":
        model = _trm(pos_encoding=pos, attn_window=1)
    else:
        cfg = TransformerConfig(hidden_size=32, num_heads=2, num_layers=2, ffn_multiple_of=16)
        model = build_model(cfg.model_copy(update={"pos_encoding": pos}), SPEC)
    carry = model.init_carry(3, "cpu")
    carry, out = model(carry, _batch())
    assert out.logits.shape == (3, 49, 6)
    assert out.q_halt.shape == (3,)
    (out.logits.float().mean() + out.q_halt.mean()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_trm_gradient_flows_only_through_last_recursion():
    """The first T-1 recursions run without gradient: the loss must not depend on them
    through autograd, so the returned carry is detached and grads stay finite."""
    model = _trm(T=3)
    carry = model.init_carry(2, "cpu")
    carry, out = model(carry, _batch(2))
    assert not carry.z.requires_grad and not carry.y.requires_grad
    assert out.logits.requires_grad


def test_trm_q_head_starts_at_negative_bias():
    model = _trm()
    _, out = model(model.init_carry(2, "cpu"), _batch(2))
    assert torch.allclose(out.q_halt, torch.full((2,), -5.0))


def test_carry_persists_and_changes_across_segments():
    model = _trm()
    batch = _batch(2)
    c0 = model.init_carry(2, "cpu")
    c1, _ = model(c0, batch)
    c2, _ = model(c1, batch)
    assert not torch.allclose(c1.y, c2.y)


def test_carry_where_resets_only_masked_rows():
    model = _trm()
    fresh = model.init_carry(3, "cpu")
    old, _ = model(fresh, _batch())
    mixed = carry_where(torch.tensor([True, False, True]), fresh, old)
    assert torch.equal(mixed.z[0], fresh.z[0]) and torch.equal(mixed.z[1], old.z[1])


def test_equal_width_and_depth_give_equal_parameter_counts():
    trm = _trm()
    cfg = TransformerConfig(hidden_size=32, num_heads=2, num_layers=2, ffn_multiple_of=16)
    assert count_parameters(trm) == count_parameters(build_model(cfg, SPEC))


def test_local_window_mask_is_the_grid_neighbourhood():
    mask = local_window_mask((3, 3), radius=1)
    centre, corner = 4, 0
    assert mask[centre].all()  # the centre sees all 9 cells
    assert mask[corner].sum() == 4  # a corner sees itself and 3 neighbours
    assert not mask[0, 8]


def test_rope2d_relative_shift_is_translation_invariant():
    """Dot products of rotated vectors depend only on the 2D offset between cells."""
    rope = RotaryEmbedding(8, 16, grid_shape=(4, 4))
    q = torch.randn(1, 1, 1, 8).expand(1, 1, 16, 8)
    k = torch.randn(1, 1, 1, 8).expand(1, 1, 16, 8)
    rq, rk = rope(q)[0, 0], rope(k)[0, 0]
    # cells (0,0)->(1,1) and (2,2)->(3,3) have the same offset
    assert torch.allclose(rq[0] @ rk[5], rq[10] @ rk[15], atol=1e-5)


def test_swiglu_inner_size_matches_hrm():
    assert swiglu_inner_size(512, 4.0, 256) == 1536


def test_conv_mixer_is_local():
    """With the grid-convolution mixer, a change at one cell reaches only cells within
    num_layers hops in one pass of the net (3x3 kernels)."""
    model = _trm(mixer="conv", pos_encoding="none", num_layers=1)
    x = torch.randn(1, 49, 32)
    a = model.net(x)
    x2 = x.clone()
    x2[0, 0] += 1.0  # cell (0, 0)
    changed = (model.net(x2) - a).abs().sum(-1)[0].view(7, 7) > 1e-6
    assert changed[:2, :2].all() and not changed[2:, :].any() and not changed[:, 2:].any()


def test_output_skip_reads_the_answer_from_y_plus_x():
    plain = _trm(output_skip=False)
    skip = _trm(output_skip=True)
    skip.load_state_dict(plain.state_dict())
    batch = _batch(2)
    _, a = plain(plain.init_carry(2, "cpu"), batch)
    _, b = skip(skip.init_carry(2, "cpu"), batch)
    x = plain.embed(batch)
    assert torch.allclose(b.logits - a.logits, plain.lm_head(x), atol=1e-4)


def _hrm(**kw):
    from ponder.models.hrm import HRMConfig

    base = dict(hidden_size=32, num_heads=2, ffn_multiple_of=16, H_layers=1, L_layers=1)
    return build_model(HRMConfig(**{**base, **kw}), SPEC)


def test_hrm_forward_backward_and_q_heads():
    model = _hrm()
    carry, out = model(model.init_carry(3, "cpu"), _batch())
    assert out.logits.shape == (3, 49, 6) and out.q_continue.shape == (3,)
    assert torch.allclose(out.q_halt, torch.full((3,), -5.0))
    assert not carry.z_H.requires_grad and not carry.z_L.requires_grad
    (out.logits.float().mean() + out.q_halt.mean() + out.q_continue.mean()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_hrm_one_step_gradient_only_reaches_the_last_updates():
    """With the 1-step gradient, the loss depends through autograd on the carry only via
    the last L and H updates: the gradient w.r.t. the initial carry equals that of a model
    whose earlier cycles ran on a detached copy."""
    model = _hrm(H_cycles=2, L_cycles=2)
    carry = model.init_carry(2, "cpu")
    carry.z_H.requires_grad_(True)
    carry.z_L.requires_grad_(True)
    _, out = model(carry, _batch(2))
    out.logits.float().sum().backward()
    # Earlier cycles ran under no_grad, so the initial states get no gradient at all.
    assert carry.z_H.grad is None and carry.z_L.grad is None


def _grad_calls(model, module) -> list[bool]:
    """Run one segment; return, per call of `module`, whether autograd was recording."""
    calls = []
    handle = module.register_forward_pre_hook(lambda m, a: calls.append(torch.is_grad_enabled()))
    model(model.init_carry(2, "cpu"), _batch(2))
    handle.remove()
    return calls


def test_trm_backpropagates_through_the_last_recursion_only():
    """T=3, n=2: 9 calls of the net; the last recursion's n + 1 = 3 record gradients."""
    model = _trm(T=3)
    assert _grad_calls(model, model.net) == [False] * 6 + [True] * 3


def test_trm_one_step_gradient_ablation_cuts_all_but_two_calls():
    model = _trm(T=3, n=3, one_step_grad=True)
    assert _grad_calls(model, model.net) == [False] * 10 + [True] * 2


def test_hrm_grad_calls_are_the_last_l_and_h_updates():
    model = _hrm(H_cycles=2, L_cycles=3)
    assert _grad_calls(model, model.L) == [False] * 5 + [True]
    assert _grad_calls(model, model.H) == [False, True]


def test_no_grad_recursions_cut_the_incoming_carry_from_the_graph():
    """Tensors used only in the no-grad passes (here the incoming carry) get no gradient;
    without a no-grad pass (T=1) they do."""
    model = _trm(T=2)
    carry = model.init_carry(2, "cpu")
    carry.z.requires_grad_(True)
    carry.y.requires_grad_(True)
    _, out = model(carry, _batch(2))
    out.logits.float().sum().backward()
    assert carry.z.grad is None and carry.y.grad is None  # cut by the no-grad recursion
    one = _trm(T=1)
    carry = one.init_carry(2, "cpu")
    carry.z.requires_grad_(True)
    _, out = one(carry, _batch(2))
    out.logits.float().sum().backward()
    assert carry.z.grad is not None  # with no no-grad recursion the carry is reached


@pytest.mark.parametrize("name", ["hrm", "trm"])
def test_official_sum_order_changes_rounding_only(name):
    """z + (y + x) against (z + y) + x: the same function, other last bits."""
    from ponder.models.hrm import HRMConfig

    make = HRMConfig if name == "hrm" else TRMConfig
    small = dict(hidden_size=32, num_heads=2, expansion=2.0)
    torch.manual_seed(0)
    ours = build_model(make(**small), SPEC)
    official = build_model(make(**small, official_sum_order=True), SPEC)
    official.load_state_dict(ours.state_dict())
    batch = {"inputs": torch.randint(0, 6, (3, 49)), "puzzle_identifiers": torch.zeros(3).long()}
    outs = []
    for model in (ours, official):
        carry = model.init_carry(3, "cpu", 49)
        for _ in range(3):
            carry, out = model(carry, batch)
        outs.append(out.logits)
    assert torch.allclose(outs[0], outs[1], atol=1e-4)
    assert not torch.equal(outs[0], outs[1])
