"""Fixtures made by HRM's own dataset builders, for tests/data/test_official_data_equivalence.py.

    python tools/official_data_fixtures.py /path/to/HRM-checkout --out tests/fixtures/official_data

1. Writes small CSVs in the official format (header `source,question,answer,rating`; Sudoku
   81 characters with '.' for blanks, as Sudoku-Extreme writes them, one test row with '0';
   Maze-Hard side x side characters from `# SGo`), made by ponder's own seeded generators.
2. Imports the checkout's `dataset/build_sudoku_dataset.py` and `dataset/build_maze_dataset.py`
   and runs their `convert_subset("train", config)` then `convert_subset("test", config)`
   (what their `preprocess_data` command does) on those CSVs, for several configs.
3. Copies what they wrote (`{train,test}/dataset.json`, `all__*.npy`, `identifiers.json`)
   byte for byte under --out, with the CSVs and a manifest.json naming the official commit,
   this command, numpy's version and every file's size and sha256.

The tests read only these files; they never need the official code. No official code is
copied into ponder. What is replaced while the official code runs, and why (nothing else):

- `hf_hub_download`: the builders download train.csv / test.csv from the Hugging Face Hub.
  There is no network here, so the name `hf_hub_download` inside each builder module is
  rebound to a function that returns the local CSV's path. When `huggingface_hub` is not
  installed, a stub module holding only that name is put in sys.modules for the import.
- `argdantic`: used only for the command line (`cli = ArgParser()`, `@cli.command(...)`);
  when it is not installed, a stub whose `command` decorator returns the function
  unchanged is put in sys.modules. The script calls `convert_subset` itself.
- tqdm's progress bars are switched off (TQDM_DISABLE=1); they only print.
- numpy's global RNG is seeded (np.random.seed) before each config, because the builders
  draw their subsamples and Sudoku augmentations from it without a seed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

from ponder.tasks.maze import MAZE, PATH
from ponder.tasks.sudoku import SUDOKU, to_board

CSV_HEADER = ["source", "question", "answer", "rating"]
BUILDERS = {"sudoku": "dataset/build_sudoku_dataset.py", "maze": "dataset/build_maze_dataset.py"}
NEEDED = (*BUILDERS.values(), "dataset/common.py")
MAZE_SIDE = 20  # Maze-Hard is 30x30; 20x20 keeps the fixtures small (seq_len 400)

# name -> (task, CSV folder, official DataProcessConfig fields, numpy global seed)
CONFIGS: dict[str, tuple[str, str, dict[str, Any], int]] = {
    "sudoku/plain": ("sudoku", "sudoku/csv", {}, 0),
    "sudoku/min_difficulty": ("sudoku", "sudoku/csv", {"min_difficulty": 2}, 0),
    "sudoku/subsample": ("sudoku", "sudoku/csv", {"subsample_size": 3}, 1),
    "sudoku/aug": ("sudoku", "sudoku/csv", {"num_aug": 3}, 2),
    "sudoku/two_solutions": ("sudoku", "sudoku/csv_two_solutions", {}, 0),
    "maze/plain": ("maze", "maze/csv", {}, 0),
    "maze/aug": ("maze", "maze/csv", {"aug": True}, 0),
    "maze/subsample": ("maze", "maze/csv", {"subsample_size": 2}, 3),
}


class BadInput(Exception):
    """A mistake in the command line: one line on stderr, exit 2."""


# --------------------------------------------------------------------------- CSVs


def sudoku_rows(rng: np.random.Generator, count: int, blank: str = ".") -> list[list[str]]:
    """`count` unique ponder puzzles as official CSV rows; minimal ones (clues=None) so
    the ratings (the solver's guesses) spread and min_difficulty has something to cut."""
    rows = []
    for _ in range(count):
        puzzle = SUDOKU.generate(rng, size=9, clues=None)
        q = "".join(str(d) if d else blank for d in to_board(puzzle))
        a = "".join(map(str, to_board(SUDOKU.solve(puzzle))))
        rows.append(["ponder", q, a, str(SUDOKU.rating(puzzle))])
    return rows


def two_solution_row(row: list[str]) -> list[str]:
    """The row with every 1 and 2 blanked: swapping them is a second solution."""
    source, _, answer, rating = row
    return [source, "".join("." if ch in "12" else ch for ch in answer), answer, rating]


def maze_cells(grid: np.ndarray) -> str:
    """A maze grid as Maze-Hard writes it: one string, row by row, open cells as spaces."""
    return "".join(MAZE.format(grid).splitlines())


def maze_rows(rng: np.random.Generator, count: int) -> list[list[str]]:
    rows = []
    for _ in range(count):
        maze = MAZE.generate(
            rng, size=MAZE_SIDE, family="obstacles", wall_density=0.35, min_path=25
        )
        route = MAZE.solve(maze)
        moves = int(np.sum(route == PATH)) + 1
        rows.append(["ponder", maze_cells(maze), maze_cells(route), str(moves)])
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)


def write_csvs(out: Path) -> None:
    """Every CSV folder CONFIGS names, from fixed seeds (the same files on every run)."""
    rng = np.random.default_rng(26)
    train = sudoku_rows(rng, 6)
    test = sudoku_rows(rng, 2) + sudoku_rows(rng, 1, blank="0")  # both blank characters
    write_csv(out / "sudoku/csv/train.csv", train)
    write_csv(out / "sudoku/csv/test.csv", test)
    write_csv(out / "sudoku/csv_two_solutions/train.csv", [two_solution_row(train[0])] + train[1:])
    write_csv(out / "sudoku/csv_two_solutions/test.csv", test)
    rng = np.random.default_rng(4)
    write_csv(out / "maze/csv/train.csv", maze_rows(rng, 3))
    write_csv(out / "maze/csv/test.csv", maze_rows(rng, 2))


# --------------------------------------------------------------------------- official code


def stub_missing_modules() -> list[str]:
    """Stub argdantic and huggingface_hub where they are not installed; the names stubbed."""
    stubbed = []
    if importlib.util.find_spec("argdantic") is None:
        module = types.ModuleType("argdantic")
        module.ArgParser = _StubArgParser
        sys.modules["argdantic"] = module
        stubbed.append("argdantic")
    if importlib.util.find_spec("huggingface_hub") is None:
        module = types.ModuleType("huggingface_hub")
        module.hf_hub_download = _no_download
        sys.modules["huggingface_hub"] = module
        stubbed.append("huggingface_hub")
    return stubbed


class _StubArgParser:
    """What the builders use of argdantic.ArgParser: a decorator that changes nothing."""

    def command(self, *args: Any, **kwargs: Any):
        return lambda function: function

    def __call__(self) -> None:
        raise RuntimeError("the stubbed command line is never run")


def _no_download(*args: Any, **kwargs: Any) -> str:
    raise RuntimeError("no download here: each builder's hf_hub_download is rebound")


def load_builder(checkout: Path, task: str) -> types.ModuleType:
    """The official builder module, imported from the checkout under a name of its own
    (its `from common import ...` finds dataset/common.py through sys.path)."""
    dataset_dir = str(checkout / "dataset")
    if dataset_dir not in sys.path:
        sys.path.insert(0, dataset_dir)
    path = checkout / BUILDERS[task]
    spec = importlib.util.spec_from_file_location(f"hrm_official_build_{task}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_official(builder: types.ModuleType, csv_dir: Path, fields: dict, seed: int) -> Path:
    """Run the builder's convert_subset on both splits; the folder it wrote."""
    out_dir = Path(tempfile.mkdtemp(prefix="hrm_official_out_"))

    def local_download(repo_id: str, filename: str, repo_type: str | None = None) -> str:
        return str(csv_dir / filename)

    builder.hf_hub_download = local_download
    config = builder.DataProcessConfig(source_repo="local", output_dir=str(out_dir), **fields)
    np.random.seed(seed)
    for split in ("train", "test"):  # preprocess_data's order: the RNG stream depends on it
        builder.convert_subset(split, config)
    return out_dir


# --------------------------------------------------------------------------- the command


def official_commit(checkout: Path) -> dict[str, Any]:
    """The checkout's commit (git rev-parse, or a COMMIT file of an exported tree) and
    whether its tree differs from that commit (None when not a git checkout)."""
    git = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--show-toplevel", "HEAD"],
        capture_output=True,
        text=True,
    )
    top, _, head = git.stdout.strip().partition("\n")
    # A tree exported into some other repository's folder must not take that one's commit.
    if git.returncode == 0 and Path(top).resolve() == checkout.resolve():
        status = subprocess.run(
            ["git", "-C", str(checkout), "status", "--porcelain"], capture_output=True, text=True
        )
        return {"commit": head, "modified": bool(status.stdout.strip())}
    commit_file = checkout / "COMMIT"
    if commit_file.is_file():
        return {"commit": commit_file.read_text().strip(), "modified": None}
    raise BadInput(f"{checkout}: not a git checkout and no COMMIT file naming its commit")


def check_arguments(checkout: Path, out: Path) -> None:
    if not checkout.is_dir():
        raise BadInput(f"{checkout}: no such folder (expected an HRM checkout)")
    for name in NEEDED:
        if not (checkout / name).is_file():
            raise BadInput(f"{checkout}: not an HRM checkout ({name} is missing)")
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise BadInput(f"--out {out}: a folder with other files in it (no manifest.json)")


def file_entries(out: Path) -> dict[str, dict[str, Any]]:
    entries = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json"):
        data = path.read_bytes()
        entries[path.relative_to(out).as_posix()] = {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return entries


def run_all_configs(checkout: Path, staging: Path) -> dict[str, dict[str, Any]]:
    """Every CONFIGS entry built by the official code into `staging`; what each one was."""
    builders = {task: load_builder(checkout, task) for task in BUILDERS}
    datasets = {}
    for name, (task, csv_dir, fields, seed) in CONFIGS.items():
        written = run_official(builders[task], staging / csv_dir, fields, seed)
        shutil.copytree(written, staging / name)
        shutil.rmtree(written)
        datasets[name] = {"builder": BUILDERS[task], "csv": csv_dir, "config": fields}
        datasets[name]["numpy_seed"] = seed
    return datasets


def build(checkout: Path, out: Path, command: str) -> None:
    """Everything under a fresh folder beside `out` first, then renamed to `out`, so a
    failure leaves the old fixtures as they were."""
    commit = official_commit(checkout)
    os.environ["TQDM_DISABLE"] = "1"
    stubbed = stub_missing_modules()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".official_data_", dir=out.parent))
    try:
        write_csvs(staging)
        manifest = {
            "official": {"repository": "sapientinc/HRM", **commit},
            "command": command,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "stubbed_modules": stubbed,
            "datasets": run_all_configs(checkout, staging),
            "files": file_entries(staging),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when renamed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github.com/sapientinc/HRM")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/official_data"))
    args = parser.parse_args(argv)
    try:
        check_arguments(args.checkout, args.out)
        command = f"python tools/official_data_fixtures.py {args.checkout} --out {args.out}"
        build(args.checkout.resolve(), args.out, command)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} from sapientinc/HRM {official_commit(args.checkout)['commit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
