"""The recursions a TRM segment runs without gradient leave nothing in the autograd graph:
a segment with T = 3 records exactly the nodes of one with T = 1."""

from __future__ import annotations

import torch

from ponder.models import build_model
from ponder.models.trm import TRMConfig


def graph_nodes(tensor: torch.Tensor) -> int:
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)


def segment_graph(T: int, spec) -> int:
    config = TRMConfig(hidden_size=16, num_heads=2, ffn_multiple_of=16, n=3, T=T)
    torch.manual_seed(0)
    model = build_model(config, spec)
    batch = {"inputs": torch.randint(1, 5, (2, spec.seq_len))}
    batch["puzzle_identifiers"] = torch.zeros(2, dtype=torch.long)
    _, out = model(model.init_carry(2, "cpu"), batch)
    return graph_nodes(out.logits)


def test_no_gradient_recursions_record_no_autograd_nodes():
    from ponder.models import DataSpec

    spec = DataSpec(vocab_size=6, seq_len=9, num_puzzle_identifiers=1, grid_shape=(3, 3))
    assert segment_graph(3, spec) == segment_graph(1, spec) > 0
