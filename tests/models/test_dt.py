"""The DeepThinking model (ponder.models.dt): size-agnostic, the same answer alone and in a
batch, recall, carry behaviour, and refusals."""

from __future__ import annotations

import pytest
import torch
from support import run, write

from ponder.data.fewshot_build import build_skills_dataset
from ponder.models import DataSpec, build_model, size_bound_reason
from ponder.models.dt import DTConfig
from ponder.models.halting import ConvergedState, StableAnswer
from ponder.models.rollout import rollout

SPEC = DataSpec(vocab_size=6, seq_len=49, grid_shape=(7, 7))


def _dt(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(DTConfig(width=8, head_width=8, **kw), SPEC).eval()


def _segments(model, inputs: torch.Tensor, count: int) -> torch.Tensor:
    carry = model.init_carry(inputs.shape[0], "cpu", inputs.shape[1])
    for _ in range(count):
        carry, out = model(carry, {"inputs": inputs})
    return out.logits


def test_shapes_and_gradients():
    model = _dt(num_blocks=2, iterations=3)
    carry = model.init_carry(2, "cpu")
    carry, out = model(carry, {"inputs": torch.randint(0, 6, (2, 49))})
    assert out.logits.shape == (2, 49, 6) and out.q_halt.shape == (2,)
    assert carry.state.shape == (2, 8, 7, 7) and carry.started.all()
    (out.logits.sum() + out.q_halt.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("detached", [False, True])
def test_halt_detached_keeps_the_halting_loss_out_of_the_recurrence(detached):
    model = _dt(halt_detached=detached)
    torch.nn.init.normal_(model.q_head.proj.weight)  # zero at init: no gradient either way
    carry = model.init_carry(2, "cpu")
    carry, out = model(carry, {"inputs": torch.randint(0, 6, (2, 49))})
    out.q_halt.sum().backward()
    assert model.q_head.proj.weight.grad.abs().sum() > 0  # the head itself always learns
    trunk = model.blocks[0].conv1.weight.grad
    reached = trunk is not None and trunk.abs().sum() > 0
    assert reached != detached


def test_runs_on_grids_of_any_size():
    """No weight depends on the grid: the model built for 7x7 answers a 15x15 grid."""
    model = _dt(iterations=2)
    assert size_bound_reason(model.config) is None
    big = torch.randint(0, 6, (1, 15 * 15))
    assert _segments(model, big, 2).shape == (1, 225, 6)


def test_same_answer_alone_and_in_a_batch():
    model = _dt(iterations=2)
    inputs = torch.randint(0, 6, (5, 49))
    together = _segments(model, inputs, 3)
    alone = torch.cat([_segments(model, inputs[i : i + 1], 3) for i in range(5)])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.equal(together.argmax(-1), alone.argmax(-1))


def test_segments_compose_iterations():
    """Two segments of one iteration each are one segment of two iterations."""
    inputs = torch.randint(0, 6, (2, 49))
    assert torch.allclose(
        _segments(_dt(iterations=1), inputs, 2), _segments(_dt(iterations=2), inputs, 1), atol=1e-6
    )


def test_the_input_is_projected_once_and_recalled_every_iteration():
    """A started row keeps its state: changing the input changes the next answer only
    through recall (and not at all without it)."""
    for recall, should_change in ((True, True), (False, False)):
        model = _dt(recall=recall)
        a, b = torch.randint(0, 6, (1, 49)), torch.randint(0, 6, (1, 49))
        carry, _ = model(model.init_carry(1, "cpu"), {"inputs": a})
        _, out_a = model(carry, {"inputs": a})
        _, out_b = model(carry, {"inputs": b})
        assert (not torch.allclose(out_a.logits, out_b.logits)) == should_change


def test_a_fresh_row_starts_from_its_own_input():
    model = _dt()
    inputs = torch.randint(0, 6, (2, 49))
    carry, _ = model(model.init_carry(2, "cpu"), {"inputs": inputs})
    reset = model.init_carry(2, "cpu")
    mixed = type(carry)(
        state=torch.where(torch.tensor([True, False]).view(2, 1, 1, 1), reset.state, carry.state),
        started=torch.tensor([False, True]),
    )
    _, out = model(mixed, {"inputs": inputs})
    _, first = model(model.init_carry(2, "cpu"), {"inputs": inputs})
    assert torch.allclose(out.logits[0], first.logits[0])  # row 0 began again
    assert not torch.allclose(out.logits[1], first.logits[1])  # row 1 went on


def _train_dt(tmp_path, capsys, data, extra: str = "") -> tuple[int, str]:
    config = write(
        tmp_path / "dt.yaml",
        f"run_dir: {tmp_path / 'run'}\ndevice: cpu\nprecision: fp32\n{extra}"
        f"data: {{path: {data}}}\nmodel: {{name: dt, width: 8}}\n"
        "train: {steps: 2, global_batch_size: 4}\n",
    )
    code, _, err = run(["train", config], capsys)
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()
    return code, err


def test_dt_is_refused_for_the_path_objective(tmp_path, capsys, tiny_maze_dir):
    code, err = _train_dt(tmp_path, capsys, tiny_maze_dir, "objective: path\n")
    assert code == 2 and "model dt answers an input grid with grid tokens only" in err


def test_dt_is_refused_for_few_shot_tasks(tmp_path, capsys):
    data = build_skills_dataset(
        tmp_path / "skills", train=4, test=2, unseen=2, seed=0, demos=2, max_size=6
    )
    code, err = _train_dt(tmp_path, capsys, data)
    assert code == 2 and "needs a model that reads its demonstrations" in err


@pytest.mark.parametrize("key, value", [("width", 0), ("iterations", 0), ("num_blocks", 0)])
def test_bad_sizes_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        DTConfig(**{key: value})


@pytest.mark.parametrize("rule", [StableAnswer(k=2), ConvergedState(0.01)])
def test_rows_leaving_the_batch_change_no_answer(rule):
    """`--segments auto` drops halted rows from the batch; the answers and halting segments
    are those of a rollout that keeps every row (snapshots keep them all)."""
    torch.manual_seed(1)
    inputs = torch.randint(0, 6, (6, 49))
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    model = _dt(num_blocks=1)
    runs = [
        rollout(model, {"inputs": inputs}, 24, rule=rule, read=read, until_halt=True, snapshots=s)
        for s in ((), (24,))
    ]
    assert torch.equal(runs[0].halt_step, runs[1].halt_step)
    assert torch.equal(runs[0].at_halt, runs[1].at_halt)
    assert len(set(runs[0].halt_step.tolist())) > 1  # rows did leave at different segments
