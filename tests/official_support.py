"""Official checkpoint folders made from the fixtures' official weights (pretrain.py's
layout: `step_<N>`, torch.save of the state dict, and all_config.yaml beside it) and a
dataset of their shape: 4x4 mazes (vocabulary 6, 16 cells) with 5 puzzle identifiers.
Used by tests/official/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file
from support import write_hrm_layout

from ponder.tasks import get

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "official_models"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CONFIGS = ["trm_attention", "trm_mlp", "hrm"]  # the fixtures these tests were written for
ARCH_NAMES = {
    "trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "hrm": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
}
DATA_KEYS = ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers")  # from the data


def official_model(config: str) -> str:
    return MANIFEST["configs"][config]["official"]


def fixture_weights(config: str) -> dict[str, torch.Tensor]:
    """The ACT wrapper's state dict (`inner.*`), as the official model wrote it."""
    return load_file(FIXTURES / config / "weights.safetensors")


def all_config(config: str) -> dict:
    """The all_config.yaml pretrain.py would write for the fixture's arch."""
    entry = MANIFEST["configs"][config]
    arch = {k: v for k, v in entry["arch"].items() if k not in DATA_KEYS}
    loss = {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}
    data = {"data_path": "data/x"} if entry["official"] == "hrm" else {"data_paths": ["data/x"]}
    return {
        "arch": {"name": ARCH_NAMES[entry["official"]], "loss": loss, **arch}, **data,
        "global_batch_size": 4, "epochs": 2, "lr": 1e-4, "lr_min_ratio": 1.0,
        "lr_warmup_steps": 1, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95,
        "puzzle_emb_lr": 1e-2, "puzzle_emb_weight_decay": 0.1, "seed": 0,
        "eval_interval": None,
    }  # fmt: skip


def write_official_folder(
    folder: Path, config: str, prefix: str = "_orig_mod.model.", weights=None, raw=None
) -> Path:
    """An official checkpoint folder for a fixture: its weights (or `weights`, official
    names without `prefix`) saved as `step_10` with `prefix`, and its all_config.yaml (or
    `raw`). Returns the weights file."""
    folder.mkdir(parents=True, exist_ok=True)
    state = fixture_weights(config) if weights is None else weights
    torch.save({prefix + k: v for k, v in state.items()}, folder / "step_10")
    (folder / "all_config.yaml").write_text(yaml.dump(all_config(config) if raw is None else raw))
    return folder / "step_10"


def _solved_maze(maze, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 4x4 grid (below the generator's smallest maze) with S, G and a path between."""
    while True:
        grid = np.where(rng.random((4, 4)) < 0.25, 1, 2)  # WALL or OPEN
        start, goal = rng.choice(16, 2, replace=False)
        grid.flat[start], grid.flat[goal] = 3, 4
        try:
            return maze.encode(grid), maze.encode(maze.solve(grid))
        except Exception:  # no path from S to G: draw again
            continue


def write_maze4(root: Path) -> Path:
    """4x4 mazes in HRM's layout (task maze, named with --task): 8 train, 4 test,
    identifiers 0..4 (the fixtures' puzzle table has 5 rows)."""
    maze, rng = get("maze"), np.random.default_rng(0)
    splits = {}
    for name, n in (("train", 8), ("test", 4)):
        pairs = [_solved_maze(maze, rng) for _ in range(n)]
        inputs, labels = (np.stack([pair[i] for pair in pairs]) for i in (0, 1))
        splits[name] = (inputs, labels, [i % 5 for i in range(n)])
    return write_hrm_layout(root, splits, num_identifiers=5)


def import_args(checkpoint: Path, model: str, data: Path, out: Path, *more) -> list:
    return ["import", model, checkpoint, "--data", data, "--task", "maze", "--out", out, *more]
