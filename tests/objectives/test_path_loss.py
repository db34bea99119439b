"""The vectorised multi-horizon path loss equals a slow loop over examples, positions and
horizons."""

import pytest
import torch
import torch.nn.functional as F

from ponder.objectives.path_loss import horizon_targets, path_loss


def _slow(logits, routes, allowed, eps):
    b, k, length, _ = logits.shape
    per_h = []
    for h in range(k):
        terms = []
        for i in range(b):
            cells = [c for c in routes[i].tolist() if c >= 0]
            for pos in range(len(cells) - (h + 1)):
                row = logits[i, h, cells[pos]].clone()
                legal = torch.ones(length, dtype=torch.bool)
                if allowed is not None and h == 0:
                    legal = allowed[i, cells[pos]]
                    row = row.masked_fill(~legal, -1e9)
                logp = F.log_softmax(row, -1)
                nll = -logp[cells[pos + h + 1]]
                smooth = -(logp[legal]).mean()
                terms.append((1 - eps) * nll + eps * smooth)
        if terms:
            per_h.append(torch.stack(terms).mean())
    return torch.stack(per_h).mean()


@pytest.mark.parametrize("horizons", [1, 3])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_vectorised_loss_matches_the_slow_loop(horizons, masked, eps):
    torch.manual_seed(0)
    length = 9  # a 3x3 grid; routes of different lengths, -1 padded
    routes = torch.tensor([[0, 1, 2, 5, 8], [4, 3, 6, -1, -1], [8, 7, -1, -1, -1]])
    logits = torch.randn(3, horizons, length, length)
    allowed = None
    if masked:
        allowed = torch.rand(3, length, length) > 0.5
        for i, route in enumerate(routes.tolist()):  # the true next cells must be legal
            cells = [c for c in route if c >= 0]
            for a, b in zip(cells, cells[1:], strict=False):
                allowed[i, a, b] = True
    fast, parts = path_loss(logits, routes, allowed, eps)
    assert torch.allclose(fast, _slow(logits, routes, allowed, eps), atol=1e-5)
    assert 0 <= parts["next_cell_acc"] <= 1


def test_horizon_targets():
    routes = torch.tensor([[5, 6, 7, -1]])
    assert horizon_targets(routes, 2).tolist() == [[[6, 7, -1, -1], [7, -1, -1, -1]]]
