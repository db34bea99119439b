"""Training aids for route answers: class-weighted CE, route sparsity, the connectivity
surrogate and the route-mass constraint (ponder.objectives.route_aids)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from support import tiny_config

from ponder.config import config_from_dict
from ponder.data import build_dataset
from ponder.data.dataset import open_dataset
from ponder.errors import UserError
from ponder.models.base import ModelOutputs
from ponder.objectives import GridConfig
from ponder.objectives.losses import segment_loss
from ponder.objectives.route_aids import (
    RouteAids,
    class_weight_table,
    connectivity_penalty,
    route_aids_from_config,
)
from ponder.runs import open_run_data
from ponder.tasks.maze import MazeTask
from ponder.tasks.routing import (
    AVENUE,
    BUILDING,
    CAR,
    END,
    HOUR_0,
    ROAD,
    ROUTE,
    ROUTING,
    START,
    VOCAB_SIZE,
    RoutingTask,
)
from ponder.train.launch import train

LAYOUT = RoutingTask.route_layout


def _out(logits):
    return ModelOutputs(logits=logits, q_halt=torch.zeros(logits.shape[0]))


def _loss(logits, batch, **kw):
    return segment_loss(_out(logits), batch, kind="softmax", ignore_label=0, halt_weight=0, **kw)


def _city(rows: list[str]) -> np.ndarray:
    """A puzzle grid (header row of a car at 8 o'clock, then the city) from characters:
    S start, E end, r road, a avenue, # building, o a road cell the route takes."""
    chars = {"S": START, "E": END, "r": ROAD, "a": AVENUE, "#": BUILDING, "o": ROAD}
    city = np.array([[chars[c] for c in row] for row in rows])
    header = np.tile([CAR, HOUR_0 + 8], city.shape[1])[: city.shape[1]]
    return np.vstack([header, city])


# S o # #     the route S, (0,1), (1,1), (2,2), (3,2), E: (1,1) -> (2,2) is a diagonal
# # a # #     move between two avenue cells, legal only because both are avenues
# # # a #
# # # o E
DIAGONAL_CITY = ["So##", "#a##", "##a#", "##oE"]
DIAGONAL_ROUTE = [(0, 1), (1, 1), (2, 2), (3, 2)]


def _route_probs(shape, cells) -> torch.Tensor:
    p = torch.zeros(1, *shape)
    for r, c in cells:
        p[0, r, c] = 1.0
    return p


# ----------------------------------------------------------------------------- class weights


def test_class_weights_equal_a_hand_weighted_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6)
    labels = torch.tensor([[1, 2, 4, 0, 0], [4, 4, 1, 2, 3]])  # 0 is ignored
    batch = {"inputs": labels.clone(), "labels": labels}
    table = class_weight_table({2: 3.0, 4: 0.5}, vocab_size=6)
    assert table.tolist() == [1.0, 1.0, 3.0, 1.0, 0.5, 1.0]
    loss, _, _ = _loss(logits, batch, class_weights=table)
    per_seq = []
    for b in range(2):
        keep = labels[b] != 0
        nll = -F.log_softmax(logits[b, keep], -1)[torch.arange(int(keep.sum())), labels[b, keep]]
        w = table[labels[b, keep]]
        per_seq.append((w * nll).sum() / w.sum())
        ref = F.cross_entropy(logits[b, keep], labels[b, keep], weight=table)  # torch agrees
        assert torch.allclose(per_seq[-1], ref)
    assert torch.allclose(loss, torch.stack(per_seq).mean())


def test_class_weights_multiply_the_label_change_weight():
    torch.manual_seed(1)
    logits = torch.randn(1, 4, 6)
    inputs, labels = torch.tensor([[2, 2, 3, 3]]), torch.tensor([[5, 2, 5, 3]])
    table = class_weight_table({5: 4.0}, vocab_size=6)
    loss, _, _ = _loss(logits, {"inputs": inputs, "labels": labels}, change_weight=2.0,
                       class_weights=table)  # fmt: skip
    nll = -F.log_softmax(logits[0], -1)[torch.arange(4), labels[0]]
    w = torch.tensor([2 * 4.0, 1.0, 2 * 4.0, 1.0])  # changed x class weight
    assert torch.allclose(loss, (w * nll).sum() / w.sum())


def test_defaults_reproduce_the_previous_loss_exactly():
    torch.manual_seed(2)
    logits, labels = torch.randn(3, 12, VOCAB_SIZE), torch.randint(1, VOCAB_SIZE, (3, 12))
    batch = {"inputs": torch.randint(1, VOCAB_SIZE, (3, 12)), "labels": labels}
    plain, parts, _ = _loss(logits, batch, change_weight=2.0, label_smoothing=0.1)
    keep = labels != 0
    nll = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none", label_smoothing=0.1)
    w = torch.where(labels != batch["inputs"], 2.0, 1.0) * keep
    assert torch.allclose(plain, ((nll * w).sum(1) / w.sum(1)).mean())
    ones = class_weight_table({5: 1.0}, VOCAB_SIZE)
    idle = RouteAids(LAYOUT, (4, 3))  # every route term off
    same, same_parts, _ = _loss(logits, batch, change_weight=2.0, label_smoothing=0.1,
                                class_weights=ones, route_aids=idle)  # fmt: skip
    assert torch.equal(plain, same) and torch.equal(parts["lm_loss"], same_parts["lm_loss"])
    grid = GridConfig()
    assert grid.class_weights == {} and grid.route_token is None and grid.max_route_mass is None
    assert grid.route_sparsity_weight == 0 and grid.connectivity_weight == 0
    assert class_weight_table(grid.class_weights, VOCAB_SIZE) is None
    assert route_aids_from_config(grid, RoutingTask(), (4, 3), VOCAB_SIZE) is None


# ----------------------------------------------------------------------------- route terms


def test_sparsity_term_is_the_mean_route_probability_of_city_cells():
    torch.manual_seed(3)
    logits = torch.randn(2, 12, VOCAB_SIZE, requires_grad=True)  # grid (4, 3): header + 3x3
    labels = torch.randint(1, VOCAB_SIZE, (2, 12))
    batch = {"inputs": labels, "labels": labels}
    plain, _, _ = _loss(logits, batch)
    aids = RouteAids(LAYOUT, (4, 3), sparsity_weight=0.7)
    loss, parts, _ = _loss(logits, batch, route_aids=aids)
    mean_p = F.softmax(logits, -1)[:, 3:, ROUTE].mean()  # the header row (3 cells) left out
    assert torch.allclose(loss - plain, 0.7 * mean_p, atol=1e-6)  # fp32: loss is ~4
    assert torch.allclose(parts["route_prob"], mean_p)


def test_connectivity_is_zero_for_a_connected_route_with_diagonal_avenue_moves():
    puzzle = torch.as_tensor(_city(DIAGONAL_CITY))[None, 1:]  # (1, 4, 4) city tokens
    p = _route_probs((4, 4), DIAGONAL_ROUTE)
    assert connectivity_penalty(p, puzzle, LAYOUT) == 0
    roads = torch.where(puzzle == AVENUE, ROAD, puzzle)  # no avenues: no diagonal move
    assert connectivity_penalty(p, roads, LAYOUT) > 0


def test_connectivity_is_zero_for_oracle_routes_and_positive_when_scattered():
    rng = np.random.default_rng(0)
    puzzles = [ROUTING.generate(rng, size=8) for _ in range(12)]
    inputs = torch.as_tensor(np.stack(puzzles))[:, 1:]  # (12, 8, 8) city tokens
    answers = torch.as_tensor(np.stack([ROUTING.solve(p) for p in puzzles]))[:, 1:]
    route = (answers == ROUTE).float()
    assert connectivity_penalty(route, inputs, LAYOUT) == 0
    # The same number of route cells per city, moved to spots two cells apart (no two touch,
    # not even diagonally), scores positive.
    spots = torch.zeros(8, 8, dtype=torch.bool)
    spots[::2, ::2] = True
    scattered = torch.zeros_like(route)
    for b, n in enumerate(route.sum((1, 2)).long().tolist()):
        free = spots & (inputs[b] != START) & (inputs[b] != END)
        scattered[b].view(-1)[torch.nonzero(free.flatten()).flatten()[:n]] = 1.0
    assert connectivity_penalty(scattered, inputs, LAYOUT) > 0.05


def test_connectivity_gradient_flows_and_a_certain_route_costs_nothing():
    grid = _city(DIAGONAL_CITY)
    answer = grid.copy()
    for r, c in DIAGONAL_ROUTE:
        answer[1 + r, c] = ROUTE
    inputs = torch.as_tensor(grid).reshape(1, -1)
    labels = torch.as_tensor(answer).reshape(1, -1)
    batch = {"inputs": inputs, "labels": labels}
    aids = RouteAids(LAYOUT, grid.shape, connectivity_weight=1.0)
    certain = F.one_hot(labels, VOCAB_SIZE).float() * 30
    _, parts, _ = _loss(certain, batch, route_aids=aids)
    assert parts["connectivity_loss"] < 1e-6
    logits = torch.zeros(1, labels.shape[1], VOCAB_SIZE, requires_grad=True)  # unsure
    _, parts, _ = _loss(logits, batch, route_aids=aids)
    assert parts["connectivity_loss"] > 0
    aids.apply(logits, batch, torch.zeros(1), "softmax")[0].backward()
    route_grad = logits.grad[0, :, ROUTE].view(grid.shape)
    assert route_grad[0].abs().sum() == 0  # the header row is never a route cell
    assert route_grad[1:].abs().sum() > 0


# ----------------------------------------------------------------------------- mass limit


def test_mass_constraint_blocks_exactly_the_over_mass_examples():
    torch.manual_seed(4)
    labels = torch.full((4, 12), ROAD)  # grid (4, 3): header + 3x3 city
    labels[:, 4] = ROUTE  # one route cell each: the limit is 2 x 1 cell of mass
    logits = torch.randn(4, 12, VOCAB_SIZE)
    logits[[0, 2], 3:, ROUTE] = 6.0  # ~9 cells of mass: over the limit
    logits = logits.requires_grad_()
    batch = {"inputs": labels, "labels": labels}
    aids = RouteAids(LAYOUT, (4, 3), max_mass=2.0)
    loss, parts, _ = _loss(logits, batch, route_aids=aids)
    assert parts["blocked_fraction"] == 0.5
    loss.backward()
    blocked_grad = logits.grad.clone()
    logits.grad = None
    plain, plain_parts, _ = _loss(logits, batch)
    plain.backward()
    # blocked rows: no CE gradient, only the excess-mass one, which lowers route logits
    assert blocked_grad[[0, 2], 3:, ROUTE].min() > 0
    others = torch.ones(VOCAB_SIZE, dtype=torch.bool)
    others[ROUTE] = False
    assert (blocked_grad[[0, 2]][:, :, others] <= 0).all()
    assert blocked_grad[[0, 2], :3].abs().sum() == 0  # the header row is not a city cell
    assert torch.equal(blocked_grad[[1, 3]], logits.grad[[1, 3]])  # the others unchanged
    assert torch.equal(parts["lm_loss"], plain_parts["lm_loss"])  # logged CE: every row


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "train_keys, words",
    [
        ({"class_weights": {ROUTE: -1.0}}, "grid.class_weights': .*weight of token 12"),
        ({"class_weights": {-2: 1.0}}, "grid.class_weights': .*token id -2"),
        ({"route_sparsity_weight": -0.1}, "grid.route_sparsity_weight"),
        ({"connectivity_weight": -1}, "grid.connectivity_weight"),
        ({"max_route_mass": 0}, "grid.max_route_mass"),
        ({"route_token": -1}, "grid.route_token"),
    ],
)
def test_bad_values_name_the_key(train_keys, words):
    with pytest.raises(UserError, match=words):
        config_from_dict({"grid": train_keys})


@pytest.fixture(scope="module")
def routing6(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "routing6"
    return build_dataset("routing", out, train=16, test=8, seed=0, size=6)


@pytest.mark.parametrize(
    "train_keys, words",
    [
        ({"class_weights": {41: 2.0}}, r"grid.class_weights: token id 41 .*\(0..40\)"),
        ({"max_route_mass": 2, "route_token": 99}, "grid.route_token: token id 99"),
    ],
)
def test_token_ids_outside_the_vocabulary_are_refused(routing6, tmp_path, train_keys, words):
    cfg = tiny_config(routing6, tmp_path / "run", grid=train_keys)
    with pytest.raises(UserError, match=words):
        train(cfg, quiet=True)
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


def test_route_token_defaults_to_the_task_route_and_can_be_set(routing6, tmp_path):
    cfg = tiny_config(routing6, tmp_path / "run", grid={"max_route_mass": 2})
    assert callable(open_run_data(cfg)[1].loss)
    task = open_dataset(routing6).task
    assert route_aids_from_config(cfg.grid, task, (7, 6), VOCAB_SIZE).layout.route == ROUTE
    grid = GridConfig(max_route_mass=2, route_token=3)
    assert route_aids_from_config(grid, task, (7, 6), VOCAB_SIZE).layout.route == 3


def test_path_head_refuses_the_grid_aids(tiny_maze_dir, tmp_path):
    cfg = tiny_config(tiny_maze_dir, tmp_path / "run", objective="path",
                      grid={"connectivity_weight": 1.0})  # fmt: skip
    with pytest.raises(UserError, match="'grid.connectivity_weight' is for objective 'grid'"):
        open_run_data(cfg)


# ----------------------------------------------------------------------------- training


def test_training_with_every_aid_on_logs_blocked_fraction(routing6, tmp_path):
    aids = {"class_weights": {ROUTE: 5.0}, "route_sparsity_weight": 0.1,
            "connectivity_weight": 0.5, "max_route_mass": 0.2}  # fmt: skip
    cfg = tiny_config(routing6, tmp_path / "run", grid=aids, train={"steps": 4,
                      "checkpoint_every": 0}, eval={"samples_png": 0})  # fmt: skip
    run_dir = train(cfg, quiet=True)
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in logged if "train/loss" in r]
    assert len(train_rows) == 2  # log_every 2, 4 steps
    for row in train_rows:
        assert 0 <= row["train/blocked_fraction"] <= 1
        assert row["train/connectivity_loss"] > 0 and 0 < row["train/route_prob"] < 1
        assert np.isfinite(row["train/loss"])
    # An untrained model spreads ~1/41 route mass over 36 cells, far above 0.2 x a route.
    assert train_rows[0]["train/blocked_fraction"] > 0


def test_maze_routes_use_the_maze_layout():
    maze, rng = MazeTask(), np.random.default_rng(0)
    puzzles = [maze.generate(rng, size=9, min_path=4) for _ in range(6)]
    inputs = torch.as_tensor(np.stack(puzzles))
    path = (
        torch.as_tensor(np.stack([maze.solve(p) for p in puzzles])) == MazeTask.route_layout.route
    )
    assert path.any() and connectivity_penalty(path.float(), inputs, MazeTask.route_layout) == 0
