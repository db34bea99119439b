"""The few-shot sequence models: decoder-only, encoder-decoder and the champion."""

import pytest
import torch
import torch.nn.functional as F

from ponder.models.base import DataSpec
from ponder.models.seq_champion import SeqChampion, SeqChampionConfig
from ponder.models.seq_decoder import SeqDecoder, SeqDecoderConfig
from ponder.models.seq_encdec import SeqEncDec, SeqEncDecConfig

SPEC = DataSpec(vocab_size=12, seq_len=16, grid_shape=(4, 4))
SMALL = dict(hidden_size=32, num_heads=4, expansion=2.0)
MODELS = {
    "seq_decoder": lambda: SeqDecoder(SeqDecoderConfig(**SMALL, num_layers=2), SPEC),
    "seq_encdec": lambda: SeqEncDec(SeqEncDecConfig(**SMALL), SPEC),
    "seq_champion": lambda: SeqChampion(SeqChampionConfig(**SMALL), SPEC),
}
# Slot 2 of row 0 and slots 0 and 2 of row 1 are hidden (empty, or the example's own pair).
DEMO_MASK = torch.tensor([[True, True, False], [False, True, False], [True, True, True]])


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random few-shot batch (B 3, K 3, L 16) without labels: a forward must not read them."""
    g = torch.Generator().manual_seed(seed)
    b, k, n = DEMO_MASK.shape[0], DEMO_MASK.shape[1], SPEC.seq_len
    return {
        "inputs": torch.randint(0, 12, (b, n), generator=g),
        "puzzle_identifiers": torch.zeros(b, dtype=torch.long),
        "demo_inputs": torch.randint(0, 12, (b, k, n), generator=g),
        "demo_labels": torch.randint(0, 12, (b, k, n), generator=g),
        "demo_mask": DEMO_MASK.clone(),
    }


def _run(model, batch):
    torch.manual_seed(0)
    _, out = model(model.init_carry(batch["inputs"].shape[0], "cpu"), batch)
    return out


@pytest.fixture(params=list(MODELS))
def model(request):
    torch.manual_seed(0)
    return MODELS[request.param]()


def test_shapes_and_initial_halting_logit(model):
    out = _run(model, _batch())  # no "labels" key: the answer is never read
    assert out.logits.shape == (3, 16, 12)
    assert out.q_halt.shape == (3,) and out.q_halt.dtype == torch.float32
    assert torch.allclose(out.q_halt, torch.full((3,), -5.0))  # zero-init head, bias -5
    assert torch.isfinite(out.logits).all()


def test_hidden_demo_slots_do_not_matter_and_visible_ones_do(model):
    batch = _batch()
    ref = _run(model, batch).logits
    hidden = _batch(seed=1)  # new content everywhere, kept only in hidden slots
    for key in ("demo_inputs", "demo_labels"):
        hidden[key] = torch.where(DEMO_MASK[..., None], batch[key], hidden[key])
    hidden["inputs"] = batch["inputs"]
    assert torch.allclose(_run(model, hidden).logits, ref, atol=1e-6)
    visible = dict(batch, demo_labels=_batch(seed=2)["demo_labels"])
    assert not torch.allclose(_run(model, visible).logits, ref, atol=1e-3)


def test_gradients_reach_every_parameter(model):
    batch = _batch()
    batch["inputs"][0, :12] = torch.arange(12)  # every token id occurs, so every row learns
    out = _run(model, batch)
    labels = torch.randint(0, 12, (3, 16))
    loss = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten())
    loss = loss + F.binary_cross_entropy_with_logits(out.q_halt, torch.ones(3))
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert dead == []


def test_champion_is_invariant_to_the_order_of_demo_slots():
    torch.manual_seed(0)
    model = MODELS["seq_champion"]()
    batch = _batch()
    ref = _run(model, batch)
    perm = torch.tensor([2, 0, 1])
    keys = ("demo_inputs", "demo_labels", "demo_mask")
    permuted = dict(batch, **{k: batch[k][:, perm] for k in keys})
    out = _run(model, permuted)
    assert torch.allclose(out.logits, ref.logits, atol=1e-5)
    assert torch.allclose(out.q_halt, ref.q_halt, atol=1e-5)


def test_encdec_reads_demo_order():
    """The plain baselines see the flat sequence, so the order of the slots is visible
    (the contrast that makes the champion's invariance a property, not an accident)."""
    torch.manual_seed(0)
    model = MODELS["seq_encdec"]()
    batch = dict(_batch(), demo_mask=torch.ones(3, 3, dtype=torch.bool))
    perm = torch.tensor([2, 0, 1])
    permuted = dict(batch, demo_inputs=batch["demo_inputs"][:, perm])
    permuted["demo_labels"] = batch["demo_labels"][:, perm]
    assert not torch.allclose(_run(model, permuted).logits, _run(model, batch).logits, atol=1e-4)


def test_decoder_only_is_causal_over_output_slots():
    """Changing output slot j's embedding changes slot j and no earlier slot."""
    torch.manual_seed(0)
    model = MODELS["seq_decoder"]()
    batch = _batch()
    ref = _run(model, batch).logits
    j = 10
    with torch.no_grad():
        model.slots.weight[j] += 1.0
    out = _run(model, batch).logits
    assert torch.allclose(out[:, :j], ref[:, :j], atol=1e-6)
    assert not torch.allclose(out[:, j], ref[:, j], atol=1e-3)


def _copy_batch(g: torch.Generator, b: int = 32, k: int = 2) -> dict[str, torch.Tensor]:
    """Random 4x4 canvases of colours; every answer (demos and query) is its input."""
    x = torch.randint(2, 12, (b, k + 1, SPEC.seq_len), generator=g)  # (B, K + 1, L)
    return {
        "inputs": x[:, -1],
        "labels": x[:, -1],
        "puzzle_identifiers": torch.zeros(b, dtype=torch.long),
        "demo_inputs": x[:, :k],
        "demo_labels": x[:, :k],
        "demo_mask": torch.ones(b, k, dtype=torch.bool),
    }


@pytest.fixture
def one_thread():
    """Small ops: one thread is faster than two contending on shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_champion_learns_to_copy_the_query_input(one_thread):
    torch.manual_seed(0)
    model = MODELS["seq_champion"]()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        batch = _copy_batch(g)
        logits = _run(model, batch).logits
        loss = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    batch = _copy_batch(g)
    with torch.no_grad():
        acc = (_run(model, batch).logits.argmax(-1) == batch["labels"]).float().mean()
    assert acc > 0.9
