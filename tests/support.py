"""Helpers for tests: tiny configs that train in seconds on a CPU, and the CLI in-process."""

from __future__ import annotations

from pathlib import Path

from ponder.cli import main
from ponder.config import config_from_dict


def run(args: list, capsys) -> tuple[int, str, str]:
    """`ponder ARGS` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tiny_config(data_dir: Path, run_dir: Path, **sections) -> object:
    """A TRM small enough to take a training step in milliseconds."""
    raw = {
        "name": "tiny",
        "run_dir": str(run_dir),
        "device": "cpu",
        "precision": "fp32",
        "data": {"path": str(data_dir)},
        "model": {
            "name": "trm",
            "hidden_size": 32,
            "num_heads": 2,
            "ffn_multiple_of": 16,
            "n": 2,
            "T": 2,
            "pos_encoding": "rope2d",
        },
        "train": {
            "steps": 6,
            "global_batch_size": 8,
            "lr": 1e-3,
            "N_sup": 2,
            "log_every": 2,
            "checkpoint_every": 3,
            "eval_examples": 8,
        },
        "eval": {"batch_size": 8, "samples_png": 2},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return config_from_dict(raw)


def write_hrm_layout(root: Path, splits: dict, num_identifiers: int = 1) -> Path:
    """Write a dataset the way HRM's/TRM's builders do: no ponder.json, no total_puzzles,
    compact unsorted JSON, uint8 tokens, int32 offsets, identifiers.json at the root.
    `splits` maps "train"/"test" to (inputs (N, L), labels (N, L), identifiers (N,))
    with one example per puzzle and group."""
    import json

    import numpy as np

    for name, (inputs, labels, ids) in splits.items():
        d = root / name
        d.mkdir(parents=True)
        n, seq_len = inputs.shape
        meta = {
            "pad_id": 0,
            "ignore_label_id": 0,
            "blank_identifier_id": 0,
            "vocab_size": 6,
            "seq_len": seq_len,
            "num_puzzle_identifiers": num_identifiers,
            "total_groups": n,
            "mean_puzzle_examples": 1.0,
            "sets": ["all"],
        }
        (d / "dataset.json").write_text(json.dumps(meta))
        np.save(d / "all__inputs.npy", np.asarray(inputs, dtype=np.uint8))
        np.save(d / "all__labels.npy", np.asarray(labels, dtype=np.uint8))
        np.save(d / "all__group_indices.npy", np.arange(n + 1, dtype=np.int32))
        np.save(d / "all__puzzle_indices.npy", np.arange(n + 1, dtype=np.int32))
        np.save(d / "all__puzzle_identifiers.npy", np.asarray(ids, dtype=np.int32))
    names = ["<blank>"] + [f"puzzle_{i}" for i in range(1, num_identifiers)]
    (root / "identifiers.json").write_text(json.dumps(names))
    return root


def hrm_maze_fixture(root: Path, side: int, n_train: int, n_test: int, ids: int = 1) -> Path:
    """Solved mazes of side x side cells (side may be even, like HRM's 30x30: an odd maze
    gets one more wall row and column) in HRM's layout. With ids > 1, train puzzle i gets
    identifier 1 + i % (ids - 1), test puzzles the blank one."""
    import numpy as np

    from ponder.tasks import get

    maze = get("maze")
    rng = np.random.default_rng(0)
    odd = side if side % 2 else side - 1

    def one() -> tuple:
        puzzle = maze.generate(rng, size=odd, min_path=2)
        pad = side - odd
        solved = maze.solve(puzzle)
        grids = [np.pad(g, ((0, pad), (0, pad)), constant_values=1) for g in (puzzle, solved)]
        return maze.encode(grids[0]), maze.encode(grids[1])

    splits = {}
    for name, n in (("train", n_train), ("test", n_test)):
        pairs = [one() for _ in range(n)]
        ident = [1 + i % (ids - 1) if ids > 1 and name == "train" else 0 for i in range(n)]
        splits[name] = (np.stack([p for p, _ in pairs]), np.stack([s for _, s in pairs]), ident)
    return write_hrm_layout(root, splits, num_identifiers=ids)
