"""The puzzle-embedding optimizer: only the batch's rows move, and they move as a dense
reference computed over the whole table would move them."""

import pytest
import torch
import torch.nn.functional as F

from ponder.models.embedding import PuzzleEmbedding
from ponder.train.sparse_emb import SparseEmbeddingOptimizer

IDS = torch.tensor([3, 1, 3, 6])  # id 3 twice: its gradients add up


class _Holder(torch.nn.Module):
    def __init__(self, table: PuzzleEmbedding):
        super().__init__()
        self.table = table


def _setup(seed=0):
    torch.manual_seed(seed)
    emb = PuzzleEmbedding(num_identifiers=8, dim=4, length=1, hidden=4)
    emb.weight.normal_()
    target = torch.randn(len(IDS), 1, 4)
    return emb, target


def _sparse_grad_step(emb, target, opt):
    loss = F.mse_loss(emb(IDS), target)
    loss.backward()
    opt.step()


def _dense_grad(weight, target):
    """The gradient over the whole table (8, 4), as a dense embedding would get it."""
    w = weight.clone().requires_grad_(True)
    loss = F.mse_loss(F.embedding(IDS, w).view(len(IDS), 1, 4), target)
    loss.backward()
    return w.grad


def test_signsgd_matches_dense_reference_and_touches_only_batch_rows():
    emb, target = _setup()
    before = emb.weight.clone()
    grad = _dense_grad(before, target)
    opt = SparseEmbeddingOptimizer(_Holder(emb), kind="signsgd", lr=0.1, weight_decay=0.5)
    _sparse_grad_step(emb, target, opt)
    touched = torch.zeros(8, dtype=torch.bool)
    touched[IDS] = True
    expected = before * (1 - 0.1 * 0.5) - 0.1 * grad.sign()
    assert torch.allclose(emb.weight[touched], expected[touched])
    assert torch.equal(emb.weight[~touched], before[~touched])


def test_adamw_matches_torch_adamw_on_the_touched_rows():
    emb, target = _setup(1)
    before = emb.weight.clone()
    rows = torch.unique(IDS)
    opt = SparseEmbeddingOptimizer(_Holder(emb), kind="adamw", lr=0.05, weight_decay=0.1)
    ref = torch.nn.Parameter(before[rows].clone())
    ref_opt = torch.optim.AdamW([ref], lr=0.05, betas=(0.9, 0.95), weight_decay=0.1, eps=1e-8)
    for _ in range(3):  # several steps: the per-row moments and bias correction matter
        ref.grad = _dense_grad(emb.weight, target)[rows]
        ref_opt.step()
        _sparse_grad_step(emb, target, opt)
    assert torch.allclose(emb.weight[rows], ref.detach(), atol=1e-6)
    untouched = torch.ones(8, dtype=torch.bool)
    untouched[rows] = False
    assert torch.equal(emb.weight[untouched], before[untouched])
    assert opt.state["0.steps"].tolist() == [0, 3, 0, 3, 0, 0, 3, 0]


def test_a_forgotten_step_applies_nothing():
    emb, target = _setup()
    before = emb.weight.clone()
    opt = SparseEmbeddingOptimizer(_Holder(emb), kind="signsgd", lr=0.1)
    F.mse_loss(emb(IDS), target).backward()
    opt.zero_grad()  # a skipped (non-finite) step
    opt.step()
    assert torch.equal(emb.weight, before)


@pytest.mark.parametrize("kind", ["signsgd", "adamw"])
def test_state_round_trips(kind):
    emb, target = _setup()
    opt = SparseEmbeddingOptimizer(_Holder(emb), kind=kind, lr=0.1)
    _sparse_grad_step(emb, target, opt)
    other = SparseEmbeddingOptimizer(_Holder(emb), kind=kind, lr=0.1)
    other.load_state_dict(opt.state_dict())
    for key, value in opt.state_dict().items():
        assert torch.equal(other.state[key], value)
