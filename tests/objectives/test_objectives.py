"""Each answer formulation on hand-made cases: which one a run gets, what it refuses, its
loss, its decoding and its judging (an oracle model is exact, a copying one is not)."""

from __future__ import annotations

import pytest
import torch
from support import tiny_config

from ponder.data.dataset import open_dataset
from ponder.data.fewshot_build import build_skills_dataset
from ponder.errors import UserError
from ponder.models.base import ModelOutputs
from ponder.objectives import FewShotObjective, GridObjective, PathObjective
from ponder.runs import open_run_data
from ponder.tasks.maze import PATH

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fs") / "skills"
    return build_skills_dataset(out, train=8, test=4, unseen=4, seed=0, demos=3, max_size=6)


class _Answers(torch.nn.Module):
    """A stand-in model whose answer is a token grid it reads from the batch: the labels
    (an oracle, as only a test may build) or the inputs (the copy cheat)."""

    def __init__(self, vocab: int, key: str):
        super().__init__()
        self.vocab, self.key = vocab, key

    def init_carry(self, batch_size, device, seq_len=None):
        return None

    def forward(self, carry, batch):
        tokens = batch[self.key]  # (B, L)
        logits = 10.0 * torch.nn.functional.one_hot(tokens.long(), self.vocab).float()
        return carry, ModelOutputs(logits=logits, q_halt=torch.full((tokens.shape[0],), 5.0))


# ----------------------------------------------------------------------------- choice


def test_auto_takes_fewshot_for_few_shot_data_and_grid_otherwise(
    tiny_maze_dir, skills_dir, tmp_path
):
    maze_cfg = tiny_config(tiny_maze_dir, tmp_path / "a")
    assert isinstance(open_run_data(maze_cfg)[1], GridObjective)
    skills_cfg = tiny_config(skills_dir, tmp_path / "b", model={"puzzle_emb_len": 2})
    assert isinstance(open_run_data(skills_cfg)[1], FewShotObjective)
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "c", objective="path"))
    assert isinstance(objective, PathObjective) and data.spec.pointer_horizons == 1
    assert data.train.extras["routes"].shape[0] == data.train.num_examples


@pytest.mark.parametrize(
    "sections, words",
    [
        ({"objective": "path", "grid": {"mlm_u": True}}, "'grid.mlm_u' is for objective 'grid'"),
        ({"path": {"horizons": 2}}, "'path.horizons' is for objective 'path'"),
        ({"fewshot": {"latent_search_steps": 3}}, "'fewshot.latent_search_steps' is for"),
        ({"objective": "fewshot"}, "objective 'fewshot' needs a few-shot dataset"),
        (
            {"objective": "path", "train": {"official_metrics": True}},
            "train.official_metrics reads answer cells; objective 'path' has none",
        ),
        (
            {"model": {"name": "seq_champion", "hidden_size": 16, "num_heads": 2}},
            "needs a few-shot",
        ),
    ],
)
def test_a_maze_run_refuses_what_it_cannot_use(tiny_maze_dir, tmp_path, sections, words):
    raw = tiny_config(tiny_maze_dir, tmp_path / "r").to_dict()
    for key, value in sections.items():
        replace = key == "model" and value["name"] != raw["model"]["name"]
        raw[key] = value if replace or not isinstance(value, dict) else {**raw[key], **value}
    from ponder.config import config_from_dict

    with pytest.raises(UserError, match=words):
        open_run_data(config_from_dict(raw))


def test_path_needs_route_answers_and_grid_needs_single_puzzles(skills_dir, tmp_path):
    from ponder.data import build_dataset

    routing = build_dataset("routing", tmp_path / "city", train=4, test=2, seed=0, size=6)
    with pytest.raises(UserError, match="objective 'path' is for tasks whose answer is a route"):
        open_run_data(tiny_config(routing, tmp_path / "a", objective="path"))
    with pytest.raises(UserError, match="this dataset holds few-shot tasks"):
        open_run_data(tiny_config(skills_dir, tmp_path / "b", objective="grid"))


# ----------------------------------------------------------------------------- grid


def test_grid_loss_is_low_and_correct_for_the_labels_and_high_for_a_copy(tiny_maze_dir, tmp_path):
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "r"))
    batch = {
        k: torch.as_tensor(v).long()
        for k, v in (("inputs", data.test.inputs), ("labels", data.test.labels))
    }
    batch["puzzle_identifiers"] = torch.zeros(len(batch["inputs"]), dtype=torch.long)
    _, right = _Answers(data.spec.vocab_size, "labels")(None, batch)
    _, copy = _Answers(data.spec.vocab_size, "inputs")(None, batch)
    low, parts, correct = objective.loss(right, batch, None)
    high, _, wrong = objective.loss(copy, batch, None)
    assert correct.all() and not wrong.any()  # every maze needs path cells marked
    assert float(parts["lm_loss"]) < 1e-3 < float(high)


def test_grid_judge_trusts_the_verifier_not_the_labels(tiny_maze_dir, tmp_path):
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "r"))
    depth = objective.depth(CPU)
    oracle = objective.judge(_Answers(data.spec.vocab_size, "labels"), data, depth)
    copy = objective.judge(_Answers(data.spec.vocab_size, "inputs"), data, depth)
    assert oracle.report["exact"] == 1.0 and oracle.report["n"] == data.test.num_examples
    assert copy.report["exact"] == 0.0 and copy.report["valid"] == 1.0  # valid, but no route
    assert "exact" in objective.format_report(oracle.report)


def test_grid_decodes_argmax_tokens(tiny_maze_dir, tmp_path):
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "r"))
    puzzle = data.task.decode(data.test.inputs[0], data.spec.grid_shape)
    answer = data.task.solve(puzzle)
    inputs = torch.as_tensor(data.task.encode(puzzle))[None]
    logits = torch.nn.functional.one_hot(torch.as_tensor(data.task.encode(answer))[None], 6)
    assert (objective.decode_one(logits.float(), inputs, puzzle) == answer).all()


# ----------------------------------------------------------------------------- path


def test_path_decoding_follows_the_pointers(tiny_maze_dir, tmp_path):
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "r", objective="path"))
    puzzle = data.task.decode(data.test.inputs[0], data.spec.grid_shape)
    route = [c for c in data.test.extras["routes"][0].tolist() if c >= 0]
    length = puzzle.size
    logits = torch.zeros(1, 1, length, length)
    for a, b in zip(route, route[1:], strict=False):
        logits[0, 0, a, b] = 10.0
    inputs = torch.as_tensor(data.task.encode(puzzle))[None]
    answer = objective.decode_one(logits, inputs, puzzle)
    assert data.task.verify(puzzle, answer)["exact"]
    assert (answer.reshape(-1)[route[1:-1]] == PATH).all()


def test_path_loss_rewards_the_route(tiny_maze_dir, tmp_path):
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "r", objective="path"))
    routes = torch.as_tensor(data.test.extras["routes"][:2])
    length = data.spec.seq_len
    good = torch.zeros(2, 1, length, length)
    for row in range(2):
        cells = [c for c in routes[row].tolist() if c >= 0]
        for a, b in zip(cells, cells[1:], strict=False):
            good[row, 0, a, b] = 20.0
    batch = {"inputs": torch.as_tensor(data.test.inputs[:2]), "routes": routes}
    _, parts, right = objective.loss(ModelOutputs(good, torch.zeros(2)), batch, None)
    high, _, wrong = objective.loss(
        ModelOutputs(torch.zeros_like(good), torch.zeros(2)), batch, None
    )
    assert right.all() and not wrong.any() and float(parts["path_loss"]) < 1e-3 < float(high)


# ----------------------------------------------------------------------------- few-shot


def test_fewshot_judge_scores_the_oracle_and_the_copy(skills_dir, tmp_path):
    cfg = tiny_config(skills_dir, tmp_path / "r", model={"puzzle_emb_len": 2})
    data, objective = open_run_data(cfg)
    depth = objective.depth(CPU)
    oracle = objective.judge(_Answers(data.spec.vocab_size, "labels"), data, depth)
    copy = objective.judge(_Answers(data.spec.vocab_size, "inputs"), data, depth)
    assert oracle.report["pass1"] == 1.0 and oracle.report["task_pass2"] == 1.0
    assert copy.report["pass1"] < 1.0
    assert set(oracle.details) == set(n for ns in _names(data).values() for n in ns)
    assert "pass@1" in objective.format_report(oracle.report)


def _names(data):
    from ponder.data.fewshot import read_task_names

    return read_task_names(data.root, "test")


def test_fewshot_diagnostics_measure_the_task_vectors(skills_dir, tmp_path):
    cfg = tiny_config(skills_dir, tmp_path / "r", model={"puzzle_emb_len": 2})
    objective = open_run_data(cfg)[1]
    latent = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # two tasks, distinct vectors
    stats = {"encoder_latent": latent, "prefix_norm": torch.tensor(2.0)}
    out = ModelOutputs(torch.zeros(3, 4, 12), torch.zeros(3), stats=stats)
    found = objective.diagnostics(out, {"puzzle_identifiers": torch.tensor([0, 0, 1])})
    assert float(found["prefix_norm"]) == 2.0 and float(found["encoder_spread"]) > 0
    collapsed = ModelOutputs(
        out.logits, out.q_halt, stats={"encoder_latent": latent[:1].repeat(3, 1)}
    )
    spread = objective.diagnostics(collapsed, {"puzzle_identifiers": torch.tensor([0, 0, 1])})
    notes = objective.log_notes(10, {k: float(v) for k, v in spread.items()})
    assert notes and "collapsed" in notes[0]


def test_dataset_task_facts_are_read_not_named(tiny_maze_dir):
    """The grid aids and MLM-U read the task's RouteLayout; a task without one is refused."""
    task = open_dataset(tiny_maze_dir).task
    assert task.route_layout.route == PATH and task.route_layout.reveal is not None


def _test_batch(data) -> dict:
    batch = {
        k: torch.as_tensor(v).long()
        for k, v in (("inputs", data.test.inputs), ("labels", data.test.labels))
    }
    batch["puzzle_identifiers"] = torch.zeros(len(batch["inputs"]), dtype=torch.long)
    return batch


@pytest.mark.parametrize(("cells", "counted"), [("all", False), ("open", True)])
def test_open_cell_loss_leaves_the_given_cells_out(tiny_maze_dir, tmp_path, cells, counted):
    """An answer right on every open cell and wrong (PATH) on every wall, S and G: the loss
    over all cells calls it wrong, over open cells right, as DeepThinking trains mazes."""
    grid = {"keep_givens": True, "loss_cells": cells}
    data, objective = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "r", grid=grid))
    batch = _test_batch(data)
    given = torch.isin(batch["inputs"], torch.tensor(data.task.given_tokens))
    answer = {**batch, "labels": torch.where(given, PATH, batch["labels"])}
    _, out = _Answers(data.spec.vocab_size, "labels")(None, answer)
    loss, parts, correct = objective.loss(out, batch, None)
    assert bool(correct.all()) is counted and bool(correct.any()) is counted
    assert (float(parts["lm_loss"]) < 1e-3) is counted


def test_open_cell_loss_without_keep_givens_is_refused(tiny_maze_dir, tmp_path):
    with pytest.raises(UserError, match="grid.*loss_cells: open .* needs keep_givens: true"):
        tiny_config(tiny_maze_dir, tmp_path / "r", grid={"loss_cells": "open"})


_HINTED = {"progressive_alpha": 1.0, "halting": "none"}


def test_a_hint_trains_each_depth_towards_the_rules_state_at_that_depth(tiny_maze_dir, tmp_path):
    """grid.hint: the labels after t segments are the dead-end fill after hint_rate x t
    rounds; without a hint they are the labels themselves."""
    from ponder.tasks.maze_hints import hint_labels, hint_rounds

    grid = {"hint": "dead_end_fill", "hint_rate": 2}
    data, objective = open_run_data(
        tiny_config(tiny_maze_dir, tmp_path / "h", train=_HINTED, grid=grid)
    )
    batch = _test_batch(data)
    rounds = hint_rounds("dead_end_fill", batch["inputs"], data.spec.grid_shape)
    assert int(rounds.max()) > 4  # so that depth 1 and 2 differ from the answer
    for segments in (1, 2, 50):
        expected = hint_labels(batch["labels"], rounds, 2 * segments)
        assert torch.equal(objective.targets_at(batch, segments)["labels"], expected)
    assert not torch.equal(objective.targets_at(batch, 1)["labels"], batch["labels"])
    assert torch.equal(objective.targets_at(batch, 50)["labels"], batch["labels"])
    _, plain = open_run_data(tiny_config(tiny_maze_dir, tmp_path / "p", train=_HINTED))
    assert plain.targets_at(batch, 1) is batch


def test_a_hint_is_refused_without_the_progressive_loss_or_on_a_task_without_one(
    tiny_maze_dir, tmp_path
):
    from ponder.data import build_dataset

    grid = {"hint": "dead_end_fill"}
    with pytest.raises(UserError, match="grid.hint needs train.progressive_alpha"):
        open_run_data(tiny_config(tiny_maze_dir, tmp_path / "a", grid=grid))
    routing = build_dataset("routing", tmp_path / "city", train=4, test=2, seed=0, size=6)
    with pytest.raises(UserError, match="grid.hint: task routing has no hint 'dead_end_fill'"):
        open_run_data(tiny_config(routing, tmp_path / "b", train=_HINTED, grid=grid))
