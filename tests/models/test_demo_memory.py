"""Cross-attention to the demonstrations' cells (model.demo_memory): invariant to the order
of the pairs, blind to masked slots, and enough to learn a colour map from demonstrations
alone."""

from __future__ import annotations

import pytest
import torch

from ponder.models import DataSpec, build_model
from ponder.models.trm import TRMConfig

SIDE, COLOURS, VOCAB = 3, 5, 12  # 3x3 grids, colours are tokens 2..6; 0 is padding
SPEC = DataSpec(vocab_size=VOCAB, seq_len=SIDE * SIDE, grid_shape=(SIDE, SIDE))


def tiny_trm(layers: int = 0, **model) -> torch.nn.Module:
    config = TRMConfig(
        hidden_size=32,
        num_heads=2,
        num_layers=1,
        ffn_multiple_of=16,
        pos_encoding="rope2d",
        n=1,
        T=1,
        demo_memory={"num_heads": 2, "num_layers": layers},
        **model,
    )
    torch.manual_seed(0)
    return build_model(config, SPEC)


def colour_map_tasks(rng: torch.Generator, batch: int, demos: int = 3) -> dict:
    """Each row a new task: a random permutation of the colours, shown by `demos` pairs
    that together show every colour, and one query grid under the same map."""
    maps = torch.stack([torch.randperm(COLOURS, generator=rng) for _ in range(batch)]) + 2
    grids = torch.randint(0, COLOURS, (batch, demos + 1, SIDE * SIDE), generator=rng)
    grids[:, :-1, :COLOURS] = torch.arange(COLOURS)  # every colour in the first demonstration
    tokens = grids + 2
    mapped = torch.gather(maps, 1, grids.flatten(1)).view_as(grids)  # (B, K + 1, L)
    return {
        "inputs": tokens[:, -1],
        "labels": mapped[:, -1],
        "demo_inputs": tokens[:, :-1],
        "demo_labels": mapped[:, :-1],
        "demo_mask": torch.ones(batch, demos, dtype=torch.bool),
        "puzzle_identifiers": torch.zeros(batch, dtype=torch.long),
    }


def logits(model, batch) -> torch.Tensor:
    carry = model.init_carry(batch["inputs"].shape[0], "cpu")
    return model(carry, batch)[1].logits


@pytest.mark.parametrize("layers", [0, 1])
def test_the_order_of_the_pairs_does_not_matter(layers):
    model = tiny_trm(layers).eval()
    batch = colour_map_tasks(torch.Generator().manual_seed(0), 4)
    order = torch.tensor([2, 0, 1])
    permuted = {**batch}
    for key in ("demo_inputs", "demo_labels", "demo_mask"):
        permuted[key] = batch[key][:, order]
    with torch.no_grad():
        torch.testing.assert_close(logits(model, permuted), logits(model, batch))


@pytest.mark.parametrize("layers", [0, 1])
def test_masked_slots_are_never_read(layers):
    model = tiny_trm(layers).eval()
    batch = colour_map_tasks(torch.Generator().manual_seed(1), 4)
    batch["demo_mask"][:, 1] = False
    noisy = {**batch}
    for key in ("demo_inputs", "demo_labels"):
        noisy[key] = batch[key].clone()
        noisy[key][:, 1] = torch.randint(0, VOCAB, noisy[key][:, 1].shape)
    with torch.no_grad():
        torch.testing.assert_close(logits(model, noisy), logits(model, batch))
        # ...while the usable pairs are read: changing one changes the answer
        changed = {**batch, "demo_labels": batch["demo_labels"].clone()}
        changed["demo_labels"][:, 0] = (changed["demo_labels"][:, 0] - 2 + 1) % COLOURS + 2
        model.net.blocks[0].cross.out.weight.data.normal_()  # a trained-like read-out
        assert not torch.allclose(logits(model, changed), logits(model, batch))


def test_a_tiny_model_learns_colour_maps_from_demonstrations_alone():
    """Every task is new (its map drawn afresh); only the demonstrations tell the map."""
    model = tiny_trm(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = torch.Generator().manual_seed(0)
    for _ in range(200):  # 100% from about step 100 (measured)
        batch = colour_map_tasks(rng, 64)
        out = logits(model, batch)
        loss = torch.nn.functional.cross_entropy(out.flatten(0, 1), batch["labels"].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test = colour_map_tasks(torch.Generator().manual_seed(12345), 500)
    with torch.no_grad():
        exact = (logits(model, test).argmax(-1) == test["labels"]).all(-1).float().mean()
    assert exact == 1.0
