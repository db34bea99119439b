import torch
import torch.nn.functional as F

from ponder.models.base import ModelOutputs
from ponder.objectives.losses import cell_shares, segment_loss
from ponder.objectives.token_loss import stablemax_log_probs


def _out(logits):
    return ModelOutputs(logits=logits, q_halt=torch.zeros(logits.shape[0]))


def test_softmax_loss_is_per_sequence_mean_ignoring_pad():
    logits = torch.randn(2, 5, 6)
    labels = torch.tensor([[1, 2, 3, 0, 0], [1, 1, 1, 1, 1]])
    batch = {"inputs": labels.clone(), "labels": labels}
    loss, parts, _ = segment_loss(
        _out(logits), batch, kind="softmax", ignore_label=0, halt_weight=0
    )
    per_seq = [F.cross_entropy(logits[0, :3], labels[0, :3]), F.cross_entropy(logits[1], labels[1])]
    assert torch.allclose(loss, torch.stack(per_seq).mean())


def test_label_change_weight_emphasises_changed_cells():
    logits = torch.zeros(1, 4, 6)
    logits[0, 0, 5] = 5.0  # confident and right on the changed cell
    inputs = torch.tensor([[2, 2, 2, 2]])
    labels = torch.tensor([[5, 2, 2, 2]])
    batch = {"inputs": inputs, "labels": labels}
    plain, _, _ = segment_loss(_out(logits), batch, kind="softmax", ignore_label=0, halt_weight=0)
    weighted, _, _ = segment_loss(
        _out(logits), batch, kind="softmax", ignore_label=0, halt_weight=0, change_weight=3.0
    )
    nll = -F.log_softmax(logits[0], -1)[torch.arange(4), labels[0]]
    assert torch.allclose(weighted, (3 * nll[0] + nll[1:].sum()) / 6)
    assert weighted < plain


def test_halt_target_is_whole_answer_right():
    logits = F.one_hot(torch.tensor([[1, 2], [1, 1]]), 6).float() * 10
    labels = torch.tensor([[1, 2], [1, 2]])
    _, _, correct = segment_loss(
        _out(logits),
        {"inputs": labels, "labels": labels},
        kind="softmax",
        ignore_label=0,
        halt_weight=0.5,
    )
    assert correct.tolist() == [True, False]


def test_stablemax_is_a_distribution():
    logp = stablemax_log_probs(torch.randn(3, 7) * 5)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3), atol=1e-5)


def test_halting_counts_only_true_decisions():
    from ponder.models.halting import halting_counts

    q = torch.tensor([2.0, 2.0, -1.0, -1.0])  # halt, halt, continue, continue
    right = torch.tensor([True, False, True, False])
    counts = halting_counts(q > 0, right)
    assert counts["halt_precision"] == (1.0, 2.0)  # one of the two halts was right
    assert counts["halt_recall"] == (1.0, 2.0)  # one of the two right answers halted
    # A head that never halts gets no credit for the wrong rows it kept going on.
    never = halting_counts(torch.zeros(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool))
    assert never["halt_precision"] == (0.0, 0.0) and never["halt_recall"] == (0.0, 0.0)


def test_cell_shares_count_labelled_cells_of_each_row():
    """Row 0: 2 of 3 labelled cells right (its 4th ignored); row 1: all labels ignored."""
    labels = torch.tensor([[1, 2, 0, -100], [-100, -100, -100, -100]])
    argmax = torch.tensor([[1, 2, 1, 3], [0, 0, 0, 0]])
    logits = torch.nn.functional.one_hot(argmax, 4).float()  # (B, L, V)
    shares = cell_shares(logits, labels, ignore_label=-100)
    assert torch.allclose(shares, torch.tensor([2 / 3, 0.0]))
