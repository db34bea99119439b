"""The recipes in configs/ train, unchanged but for paths and size overrides, on a fixture
dataset written in HRM's layout; a dataset of the wrong shape is refused by name."""

import json

import pytest
from support import hrm_maze_fixture

from ponder.config import load_config
from ponder.data import build_dataset
from ponder.data.fewshot_build import build_arc_dataset
from ponder.errors import UserError
from ponder.train.launch import train

# Only what makes a test affordable changes: batch, steps, segments, evaluated examples,
# compiling (tests/train/test_compiling.py covers compile: true).
SMALL = ["train.global_batch_size=2", "train.steps=1", "train.N_sup=2", "train.eval_examples=1",
         "train.warmup_steps=1", "train.checkpoint_every=0", "device=cpu", "precision=fp32",
         "eval.batch_size=1", "compile=false"]  # fmt: skip


@pytest.fixture(scope="module")
def maze30(tmp_path_factory):
    return hrm_maze_fixture(tmp_path_factory.mktemp("hrm") / "maze30", 30, 3, 2)


@pytest.fixture(scope="module")
def maze11(tmp_path_factory):
    return hrm_maze_fixture(tmp_path_factory.mktemp("hrm") / "maze11", 11, 4, 2)


# Paper width (512) costs a minute per step on 2 cores; every other setting is kept.
NARROW = ["model.hidden_size=64", "model.num_heads=2", "model.ffn_multiple_of=16"]


@pytest.mark.parametrize("recipe", ["hrm_maze_hard", "trm_maze_hard"])
def test_paper_recipes_train_on_hrm_layout(recipe, maze30, tmp_path):
    overrides = [f"data.path={maze30}", f"run_dir={tmp_path}", *SMALL, *NARROW]
    cfg = load_config(f"configs/{recipe}.yaml", overrides)
    run_dir = train(cfg, quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    final = summary["final_eval"]
    assert summary["steps"] == 1 and "exact_blank_id" in final  # puzzle-embedding models


@pytest.mark.parametrize("recipe", ["hrm_maze_cpu", "trm_maze_cpu", "maze_quick"])
def test_cpu_recipes_train_on_hrm_layout(recipe, maze11, tmp_path):
    overrides = [f"data.path={maze11}", f"run_dir={tmp_path}", "data.task=maze", *SMALL]
    run_dir = train(load_config(f"configs/{recipe}.yaml", overrides), quiet=True)
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 1


@pytest.mark.parametrize(
    ("recipe", "size", "widths"), [("routing_quick", 6, []), ("routing_city30", 30, NARROW)]
)
def test_routing_recipes_train(recipe, size, widths, tmp_path):
    data = build_dataset("routing", tmp_path / "data", train=3, test=2, seed=0, size=size)
    overrides = [f"data.path={data}", f"run_dir={tmp_path / 'run'}", *SMALL, *widths]
    run_dir = train(load_config(f"configs/{recipe}.yaml", overrides), quiet=True)
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 1


def test_a_dataset_of_another_shape_is_refused(maze11, tmp_path):
    cfg = load_config("configs/hrm_maze_hard.yaml", [f"data.path={maze11}", f"run_dir={tmp_path}"])
    with pytest.raises(UserError, match=r"seq_len 121 but the config \(data\.\*\) expects 900"):
        train(cfg, quiet=True)
    assert not (tmp_path / "checkpoints").exists()


@pytest.fixture(scope="module")
def arc_tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("arc") / "arc1"
    # at most 3 demonstrations a task: the memory recipe attends to 3 x 900 cells, not 10 x 900
    return build_arc_dataset(
        out, source="arcagi1", train=3, test=2, views=2, test_views=2, max_demos=3
    )


# A 900-cell canvas with 15 net calls a segment (T 3, n 4) costs minutes on 2 cores; one
# call a segment keeps every other setting of the recipe.
SHALLOW = ["model.T=1", "model.n=1"]


@pytest.mark.parametrize("recipe", ["trm_arc1", "trm_arc1_memory"])
def test_arc_recipes_train(recipe, arc_tiny, tmp_path):
    overrides = [f"data.path={arc_tiny}", f"run_dir={tmp_path}", *SMALL, *NARROW, *SHALLOW]
    run_dir = train(load_config(f"configs/{recipe}.yaml", overrides), quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 1 and "pass2" in summary["final_eval"]
