"""Test-time training (ponder.eval.ttt): it never reads a test output, leaves the model's
weights alone, undoes every view before voting, refuses bad settings with one line, and
fitting a task's demonstrations lowers their loss."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from support import run, tiny_config
from torch import nn

from ponder.data.fewshot import lay_out_task, read_task_names, split_tasks
from ponder.data.fewshot_build import build_arc_dataset, build_skills_dataset
from ponder.errors import UserError
from ponder.eval.fewshot import (
    fewshot_report,
    predict_fewshot,
    score_ranked,
    stored_truths,
)
from ponder.eval.ttt import (
    TTTSettings,
    WithWeights,
    copy_weights,
    demonstration_loss,
    fine_tune,
    predict_fewshot_ttt,
    task_batches,
    task_views_for_ttt,
    ttt_layout,
    unanswered_task,
)
from ponder.models import build_model
from ponder.models.base import ModelOutputs
from ponder.runs import open_run_data
from ponder.tasks.arc import encode_view
from ponder.train.launch import train

TRM = {"name": "trm", "hidden_size": 16, "num_heads": 2, "ffn_multiple_of": 16, "n": 1,
       "T": 1, "pos_encoding": "rope2d", "puzzle_emb_len": 2}  # fmt: skip
ENCODER = {"kind": "standard", "hidden_size": 16, "num_heads": 2, "num_layers": 1}
FEW = TTTSettings(steps=2, lr=1e-2, params="all", views=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine two
    threads contending with other work run their kernels many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ttt") / "skills"
    return build_skills_dataset(out, train=8, test=2, unseen=2, seed=0, demos=3, max_size=6)


@pytest.fixture(scope="module")
def opened(skills_dir, tmp_path_factory):
    """(dataset, a fresh encoder TRM in eval mode, the test split's task names)."""
    cfg = tiny_config(
        skills_dir, tmp_path_factory.mktemp("r"), model={**TRM, "demo_encoder": ENCODER}
    )
    data, _ = open_run_data(cfg)
    torch.manual_seed(0)
    model = build_model(cfg.model, data.spec).eval()
    names = [n for ns in read_task_names(data.root, "test").values() for n in ns]
    return data, model, names


@pytest.fixture(scope="module")
def run_dir(skills_dir, tmp_path_factory):
    cfg = tiny_config(skills_dir, tmp_path_factory.mktemp("run") / "r", model=TRM,
                      train={"halting": "none", "steps": 2, "checkpoint_every": 2})  # fmt: skip
    return train(cfg, quiet=True)


def _ttt(model, split, names, settings=FEW, limit=0):
    layout = ttt_layout(split, n_sup=2, batch_size=8, device=torch.device("cpu"))
    with torch.no_grad():  # as evaluation calls it
        return predict_fewshot_ttt(model, split, names, layout, settings, limit)


def _flat(ranked: dict) -> list:
    return [(n, i, a.grid.tobytes(), a.grid.shape, a.votes, a.mean_confidence)
            for n, inputs in sorted(ranked.items())
            for i, answers in enumerate(inputs) for a in answers]  # fmt: skip


def _first_task_demos(data, names, views: int) -> list[dict]:
    """The leave-one-out demonstration batches of the test split's first task."""
    task, _ = unanswered_task(data.test, 0, names[0])
    chosen, ids = task_views_for_ttt(data.test, 0, task, views)
    layout = ttt_layout(data.test, n_sup=2, batch_size=8, device=torch.device("cpu"))
    split = lay_out_task(task, chosen, layout.canvas, layout.slots, demos_as_examples=True)
    return task_batches(replace(split, puzzle_identifiers=ids), layout)[0]


def test_answers_never_read_the_test_outputs(opened) -> None:
    data, model, names = opened
    noise = np.random.default_rng(1).integers(0, 12, data.test.labels.shape)
    noisy = replace(data.test, labels=noise.astype(data.test.labels.dtype))
    honest, blind = _ttt(model, data.test, names), _ttt(model, noisy, names)
    assert sorted(honest.ranked) == sorted(names)
    assert _flat(honest.ranked) == _flat(blind.ranked)  # bit-identical answers and votes
    assert honest.loss != blind.loss  # the labels were read, to score only


def test_the_models_weights_are_unchanged(opened) -> None:
    data, model, names = opened
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _ttt(model, data.test, names, limit=1)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_fitting_the_demonstrations_lowers_their_loss(opened) -> None:
    data, model, names = opened
    demos = _first_task_demos(data, names, views=3)
    settings = TTTSettings(steps=5, lr=1e-2)

    def loss(weights) -> float:
        with torch.no_grad():
            return sum(float(demonstration_loss(WithWeights(model, weights), b, 2)) for b in demos)

    start, _ = copy_weights(model, "all")
    assert loss(fine_tune(model, demos, 2, settings)) < loss(start) - 0.05


@pytest.mark.parametrize("params, moved", [("head", "lm_head."), ("encoder", "embed.demo.")])
def test_a_parameter_set_tunes_only_its_weights(opened, params, moved) -> None:
    data, model, names = opened
    demos = _first_task_demos(data, names, views=2)
    tuned = fine_tune(model, demos, 2, TTTSettings(steps=1, lr=1e-2, params=params))
    own = dict(model.named_parameters())
    changed = {name for name, w in tuned.items() if not torch.equal(w, own[name])}
    assert changed and all(name.startswith(moved) for name in changed)


def test_without_steps_it_answers_as_plain_evaluation(tmp_path) -> None:
    """ARC with 3 test views: laid out anew, the dataset's own views give the same votes
    and the same val_loss as `predict_fewshot` on the stored split."""
    arc = build_arc_dataset(tmp_path / "arc", train=1, test=2, views=1, test_views=3)
    data, _ = open_run_data(tiny_config(arc, tmp_path / "r", model=TRM))
    torch.manual_seed(0)
    model = build_model(tiny_config(arc, tmp_path / "r", model=TRM).model, data.spec).eval()
    names = read_task_names(data.root, "test")
    preds = predict_fewshot(model, data.test, n_sup=2, batch_size=8, device=torch.device("cpu"))
    report, plain = fewshot_report(data.test, preds, names)
    flat = [n for ns in names.values() for n in ns]
    found = _ttt(model, data.test, flat, TTTSettings(steps=0, views=1))
    assert found.loss == pytest.approx(report["val_loss"], rel=1e-5)
    strip = lambda r: [(x[:4], round(x[5], 4)) for x in _flat(r)]  # noqa: E731
    assert strip(found.ranked) == strip(plain)


class ViewOracle(nn.Module):
    """Answers every row with the correct output under the row's own view: a lookup from
    (input, first demonstration input) tokens to the output's tokens."""

    def __init__(self, answers: dict[bytes, np.ndarray], vocab: int):
        super().__init__()
        self.answers, self.vocab = answers, vocab
        self.bias = nn.Parameter(torch.zeros(()))  # something for the fine-tuning to tune

    def init_carry(self, batch: int, device, length: int):
        return None

    def forward(self, carry, batch):
        keys = [
            _key(x, d) for x, d in zip(batch["inputs"], batch["demo_inputs"][:, 0], strict=True)
        ]
        tokens = torch.from_numpy(np.stack([self.answers[k] for k in keys]))  # (B, L)
        logits = 10.0 * nn.functional.one_hot(tokens, self.vocab).float() + 0 * self.bias
        return carry, ModelOutputs(logits=logits, q_halt=torch.zeros(len(keys)))


def _key(inputs, first_demo) -> bytes:
    return np.asarray(inputs, np.int64).tobytes() + np.asarray(first_demo, np.int64).tobytes()


def test_votes_undo_each_view(opened) -> None:
    data, _, names = opened
    split, canvas = data.test, int(round(data.test.metadata.seq_len**0.5))
    true_tasks = split_tasks(split, read_task_names(data.root, "test"))  # with the outputs
    answers, dihedrals = {}, set()
    for group, task in enumerate(true_tasks):
        views, _ = task_views_for_ttt(split, group, unanswered_task(split, group, task.name)[0], 4)
        dihedrals |= {v.dihedral for v in views}
        for view in views:
            first = encode_view(task.train[0].input, view, canvas)
            for pair in (*task.train, *task.test):
                key = _key(encode_view(pair.input, view, canvas), first)
                answers[key] = encode_view(pair.output, view, canvas)
    assert len(dihedrals) > 1  # views that move the grid, not just recolour it
    oracle = ViewOracle(answers, data.spec.vocab_size)
    found = _ttt(oracle, split, names, TTTSettings(steps=1, lr=1e-2, views=4))
    truths = stored_truths(split, names, found.groups)
    report = score_ranked(found.ranked, truths, read_task_names(data.root, "test"), found.loss)
    assert report["pass1"] == 1.0 and report["n"] == len(names)
    assert all(a[0].votes == 4 for inputs in found.ranked.values() for a in inputs)


def test_eval_and_solve_with_ttt_steps(run_dir, skills_dir, capsys, tmp_path) -> None:
    saved = (run_dir / "config.yaml").read_bytes()
    code, out, _ = run(["eval", run_dir, "--ttt-steps", 1, "--ttt-lr", 1e-3], capsys)
    assert code == 0 and "test-time training: 1 steps" in out
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["ttt"]["steps"] == 1 and metrics["pass2"] >= metrics["pass1"]
    assert (run_dir / "config.yaml").read_bytes() == saved  # for this command only
    task = tmp_path / "task.json"
    task.write_text(run(["data", "show", skills_dir], capsys)[1])
    assert run(["solve", run_dir, task, "--ttt-steps", 1], capsys)[0] == 0


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--ttt-steps", -1], "fewshot.ttt_steps"),
        (["--ttt-steps", 20_000], "fewshot.ttt_steps"),
        (["--ttt-lr", 0], "fewshot.ttt_lr"),
        (["--ttt-lr", 5], "fewshot.ttt_lr"),
        (["--ttt-lr", "nan"], "fewshot.ttt_lr"),
        (["--ttt-steps", "two"], "--ttt-steps"),
    ],
)
def test_bad_ttt_flags_exit_2_with_one_line(run_dir, capsys, flags, named) -> None:
    try:
        code, out, err = run(["eval", run_dir, *flags], capsys)
    except SystemExit as stop:  # argparse refuses a value that is not a number by exiting
        code, (out, err) = stop.code, capsys.readouterr()
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1 and not out


@pytest.mark.parametrize(
    "override, named",
    [
        ("fewshot.ttt_params=everything", "fewshot.ttt_params"),
        ("fewshot.ttt_views=0", "fewshot.ttt_views"),
        ("fewshot.ttt_params=encoder", "model.demo_encoder"),  # a puzzle-table model
    ],
)
def test_bad_ttt_config_exits_2_before_training(skills_dir, tmp_path, capsys, override, named):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(tiny_config(skills_dir, tmp_path / "r", model=TRM).to_dict()))
    code, _, err = run(["train", cfg, "fewshot.ttt_steps=2", override], capsys)
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_ttt_and_latent_search_together_are_refused(skills_dir, tmp_path) -> None:
    model = {**TRM, "demo_encoder": ENCODER}
    cfg = tiny_config(skills_dir, tmp_path / "r", model=model,
                      fewshot={"ttt_steps": 2, "latent_search_steps": 2})  # fmt: skip
    with pytest.raises(UserError, match="two test-time options"):
        train(cfg, quiet=True)
    assert not (tmp_path / "r").exists()


def test_ttt_flags_on_a_maze_run_are_refused(tiny_maze_dir, tmp_path, capsys) -> None:
    cfg = tiny_config(tiny_maze_dir, tmp_path / "m", train={"steps": 2, "checkpoint_every": 2})
    maze_run = train(cfg, quiet=True)
    capsys.readouterr()
    code, _, err = run(["eval", maze_run, "--ttt-steps", 2], capsys)
    assert code == 2 and "fewshot.ttt_steps" in err and "'grid'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (maze_run / "eval").exists()
