"""End-to-end fixtures made by the official TRM and HRM code, for
tests/official/test_end_to_end.py.

    python tools/official_e2e.py --trm /path/to/TinyRecursiveModels [--hrm /path/to/HRM] \
        --out tests/fixtures/official_e2e

The official code trains a tiny model on small mazes, on a CPU, evaluates it, and saves its
checkpoint; the test imports that checkpoint into ponder and checks that `ponder eval`
finds the same exact puzzles. This script

1. writes CSVs in Maze-Hard's format (`source,question,answer,rating`, side x side
   characters from `# SGo`) from ponder's seeded maze generator: TRAIN_MAZES and
   TEST_MAZES mazes of MAZE_SIDE x MAZE_SIDE, each with exactly one shortest S->G route
   (see `unique_route`), test mazes none of the training ones,
2. per checkout, builds the official-format dataset from them with that checkout's own
   `dataset/build_maze_dataset.py` (`convert_subset` on train with dihedral augmentation,
   then test), as tools/official_data_fixtures.py does,
3. runs that checkout's `pretrain.py` `launch` on the config of `pretrain_config` (the arch
   in OFFICIAL, hidden HIDDEN, forward_dtype float32, EPOCHS epochs in one iteration, then
   its evaluation on the test split and its checkpoint): it trains with the official
   loss head, optimizers, schedule and data loader, evaluates every test maze until its
   batch halts (in eval mode a row halts at halt_max_steps), and saves
   `torch.save(model.state_dict())` as `step_<N>` with `all_config.yaml` beside it,
4. reads the official evaluation: `exact_accuracy` as `evaluate` returns it (exact rows
   over counted rows: halted rows with at least one label), and, from the outputs it saves
   (`eval_save_outputs`), which test examples were exact and how many rows were counted,
5. writes under --out: `csv/`, per model the dataset `data/maze-e2e-<model>/` and the
   checkpoint folder `checkpoints/E2E/<model>_maze/` (step_<N>, all_config.yaml, the saved
   outputs `step_<N>_all_preds.0`), and manifest.json (the official commits, this command,
   versions, seeds, what was replaced, per model the config, dataset, files and official
   figures; every file's size and sha256).

Everything is seeded and torch runs deterministic algorithms: regenerating gives the same
files byte for byte (the manifest's `command` names the paths given).

No official code is copied into ponder: pretrain.py also copies the model's and the loss's
source files beside the checkpoint (`save_code_and_config`); they are deleted here. What is
replaced for a CPU (nothing else):

- pretrain.py is compiled from its source with every string literal "cuda" read as "cpu"
  (`torch.device("cuda")`, `map_location="cuda"`, `device="cuda"`) and `.cuda()` as
  `.cpu()` (the batches); the counts are checked, so a changed pretrain.py is refused.
- torch.compile is off (DISABLE_COMPILE=1, pretrain.py's own switch): the keys have no
  `_orig_mod.` prefix. Distributed training is off (no LOCAL_RANK: pretrain.py's own
  single-process path).
- wandb: a stub module. `init` and `finish` do nothing, `log` keeps what it is given (the
  evaluation's metrics are read from it), `run.log_code` does nothing.
- adam_atan2 (a CUDA build): a stub module whose AdamATan2 is `CpuAdamATan2` below, the
  update of that package's reference implementation (its adam_atan2_test.py).
- hydra (`@hydra.main` returns `launch` unchanged; the config is passed as a dict),
  omegaconf (`DictConfig`, a type hint only) and coolname (run names; this config names
  its run) are stubs; argdantic and huggingface_hub as in tools/official_data_fixtures.py.
- HRM only: flash-attention, as in tools/official_model_fixtures.py (a stand-in computing
  torch's scaled_dot_product_attention).
- The official prints and progress bars go to a log file (kept only on failure).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import types
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from official_data_fixtures import (
    BadInput,
    file_entries,
    load_builder,
    maze_cells,
    official_commit,
    stub_missing_modules,
    write_csv,
)
from official_model_fixtures import flash_attn_stand_in

from ponder.tasks.maze import MAZE, PATH, WALL

SHARED = ("pretrain.py", "puzzle_dataset.py", "utils/functions.py", "models/losses.py",
          "models/layers.py", "models/sparse_embedding.py", "dataset/build_maze_dataset.py",
          "dataset/common.py")  # fmt: skip
LOSS = dict(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy")
HIDDEN = 32
# Shared by both models' arch: a tiny model, judged after halt_max_steps segments.
TINY = dict(halt_exploration_prob=0.1, halt_max_steps=4, hidden_size=HIDDEN, num_heads=2,
            expansion=4, puzzle_emb_ndim=HIDDEN, pos_encodings="rope", forward_dtype="float32")  # fmt: skip


@dataclass(frozen=True)
class Official:
    """What this script needs to know of one official code base."""

    repository: str
    needed: tuple[str, ...]  # files a checkout must have
    cpu_rewrites: dict[str, tuple[str, int]]  # pretrain.py text -> (for the CPU, how often)
    copied_sources: tuple[str, ...]  # save_code_and_config's copies, deleted
    data_key: str  # PretrainConfig's dataset key: a list (TRM) or one path (HRM)
    flash_attn: bool  # models/layers.py imports flash-attention (stand-in needed)
    arch: dict[str, Any]


OFFICIAL = {
    "trm": Official(
        "SamsungSAILMontreal/TinyRecursiveModels",
        (*SHARED, "models/recursive_reasoning/trm.py", "models/ema.py"),
        {'"cuda"': ('"cpu"', 5), ".cuda()": (".cpu()", 2)},
        ("trm.py", "losses.py"),
        "data_paths",
        False,
        dict(
            name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
            loss=LOSS,
            **TINY,
            H_cycles=2,
            L_cycles=2,
            H_layers=0,
            L_layers=2,
            mlp_t=False,
            puzzle_emb_len=1,
            no_ACT_continue=True,
        ),  # fmt: skip
    ),
    "hrm": Official(
        "sapientinc/HRM",
        (*SHARED, "models/hrm/hrm_act_v1.py"),
        {'"cuda"': ('"cpu"', 4), ".cuda()": (".cpu()", 2)},
        ("hrm_act_v1.py", "losses.py"),
        "data_path",
        True,
        dict(
            name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
            loss=LOSS,
            **TINY,
            H_cycles=2,
            L_cycles=2,
            H_layers=1,
            L_layers=1,
        ),  # fmt: skip
    ),
}

SEED = 0  # pretrain.py's config.seed: torch.manual_seed, the data order (Philox seed + 1)
MAZE_SEED = 7  # numpy default_rng for the mazes
BUILDER_SEED = 0  # numpy's global RNG, which the official builder would draw subsamples from
MAZE_SIDE = 6
TRAIN_MAZES, TEST_MAZES = 300, 90  # 90: the last test batch has 10 padding rows
WALL_DENSITY, MIN_PATH = 0.3, 3
PROJECT = "E2E"
EPOCHS, BATCH = 60, 50


def data_dir(kind: str) -> str:
    return f"data/maze-e2e-{kind}"  # built by that checkout's own builder


def checkpoint_dir(kind: str) -> str:
    return f"checkpoints/{PROJECT}/{kind}_maze"


# --------------------------------------------------------------------------- the mazes


def shortest_routes(grid: np.ndarray) -> tuple[int, int]:
    """(moves, count) of the shortest S->G routes of a maze grid, by breadth-first search
    counting the routes that reach each cell first ((-1, 0) when G is unreachable)."""
    height, width = grid.shape
    start = tuple(np.argwhere(grid == 3)[0])
    goal = tuple(np.argwhere(grid == 4)[0])
    dist, ways, queue = {start: 0}, {start: 1}, deque([start])
    while queue:
        r, c = queue.popleft()
        for nxt in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if not (0 <= nxt[0] < height and 0 <= nxt[1] < width) or grid[nxt] == WALL:
                continue
            if nxt not in dist:
                dist[nxt], ways[nxt] = dist[(r, c)] + 1, 0
                queue.append(nxt)
            if dist[nxt] == dist[(r, c)] + 1:
                ways[nxt] += ways[(r, c)]
    return (dist[goal], ways[goal]) if goal in dist else (-1, 0)


def unique_route(grid: np.ndarray) -> bool:
    """One shortest route only. The official metric needs the label's route, ponder's
    verifier takes any shortest one: with one route the two rules judge alike."""
    return shortest_routes(grid)[1] == 1


def maze_rows(rng: np.random.Generator, count: int) -> list[list[str]]:
    """`count` CSV rows of mazes with one shortest route (drawn until there are enough)."""
    rows = []
    while len(rows) < count:
        maze = MAZE.generate(
            rng, size=MAZE_SIDE, family="obstacles", wall_density=WALL_DENSITY, min_path=MIN_PATH
        )
        if not unique_route(maze):
            continue
        route = MAZE.solve(maze)
        moves = int(np.sum(route == PATH)) + 1
        rows.append(["ponder", maze_cells(maze), maze_cells(route), str(moves)])
    return rows


def write_csvs(folder: Path) -> None:
    """train.csv and test.csv, test mazes none of the training ones."""
    rng = np.random.default_rng(MAZE_SEED)
    train = maze_rows(rng, TRAIN_MAZES)
    seen = {row[1] for row in train}
    test = [row for row in maze_rows(rng, 2 * TEST_MAZES) if row[1] not in seen][:TEST_MAZES]
    if len(test) < TEST_MAZES:
        raise RuntimeError(f"only {len(test)} test mazes differ from the training ones")
    write_csv(folder / "train.csv", train)
    write_csv(folder / "test.csv", test)


def build_dataset(checkout: Path, csv_dir: Path, out_dir: Path) -> None:
    """The official builder's preprocess_data (train with aug, then test) on the CSVs."""
    builder = load_builder(checkout, "maze")

    def local_download(repo_id: str, filename: str, repo_type: str | None = None) -> str:
        return str(csv_dir / filename)

    builder.hf_hub_download = local_download
    config = builder.DataProcessConfig(source_repo="local", output_dir=str(out_dir), aug=True)
    np.random.seed(BUILDER_SEED)
    for split in ("train", "test"):
        builder.convert_subset(split, config)


# --------------------------------------------------------------------------- stand-ins


class CpuAdamATan2(torch.optim.Optimizer):
    """AdamATan2 as the adam_atan2 package's reference implementation computes it:
    decoupled weight decay, Adam moments, and atan2 in place of the division by
    sqrt(v) + eps; the package's own kernel needs CUDA."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), weight_decay: float = 1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, decay = group["lr"], group["weight_decay"]
            for p in (p for p in group["params"] if p.grad is not None):
                state = self.state[p]
                if not state:
                    state.update(
                        step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p)
                    )
                state["step"] += 1
                m, v, step = state["exp_avg"], state["exp_avg_sq"], state["step"]
                p.mul_(1 - lr * decay)
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = v.sqrt() / math.sqrt(1 - beta2**step)
                p.add_(torch.atan2(m, denom), alpha=-lr / (1 - beta1**step))


class _WandbRun:
    def log_code(self, *args: Any, **kwargs: Any) -> None:
        pass


def wandb_stub(logged: list[tuple[int | None, dict]]) -> types.ModuleType:
    """wandb with init/finish doing nothing and log appending (step, metrics) to `logged`."""
    module = types.ModuleType("wandb")

    def init(*args: Any, **kwargs: Any) -> None:
        module.run = _WandbRun()

    def log(metrics: dict, step: int | None = None) -> None:
        logged.append((step, metrics))

    module.run = None
    module.init, module.log = init, log
    module.finish = lambda: None
    module.Settings = lambda **kwargs: kwargs
    return module


def training_stubs(logged: list) -> dict[str, types.ModuleType]:
    """The modules pretrain.py imports that cannot run (or are not needed) on a CPU."""
    hydra = types.ModuleType("hydra")
    hydra.main = lambda **kwargs: lambda function: function
    omegaconf = types.ModuleType("omegaconf")
    omegaconf.DictConfig = dict
    coolname = types.ModuleType("coolname")
    coolname.generate_slug = lambda words: "unnamed"
    adam_atan2 = types.ModuleType("adam_atan2")
    adam_atan2.AdamATan2 = CpuAdamATan2
    return {"hydra": hydra, "omegaconf": omegaconf, "coolname": coolname,
            "adam_atan2": adam_atan2, "wandb": wandb_stub(logged)}  # fmt: skip


@contextlib.contextmanager
def modules_replaced(stubs: dict[str, types.ModuleType], checkout: Path):
    """sys.modules holds the stubs and sys.path the checkout while the block runs; after
    it, the checkout's modules are forgotten (the next checkout has modules of the same
    names)."""
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    sys.path.insert(0, str(checkout))
    try:
        yield
    finally:
        sys.path.remove(str(checkout))
        forget_modules_of(checkout)
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def forget_modules_of(checkout: Path) -> None:
    """Drop every imported module that lives in `checkout` (both checkouts have packages
    named models, utils, dataset, and modules puzzle_dataset, common, pretrain). All are
    found before any is dropped: a namespace package's path is looked up in its parent."""
    found = [name for name, module in list(sys.modules.items()) if _lives_in(module, checkout)]
    for name in found:
        del sys.modules[name]


def _lives_in(module: types.ModuleType, checkout: Path) -> bool:
    spec = getattr(module, "__spec__", None)
    folders = getattr(spec, "submodule_search_locations", None) or []  # namespace packages
    places = [getattr(module, "__file__", None), *folders]
    return any(place and Path(place).resolve().is_relative_to(checkout) for place in places)


def rewrite_for_cpu(source: str, official: Official) -> str | None:
    """pretrain.py's source with its CUDA placements on the CPU (official.cpu_rewrites), or
    None when it does not hold them as often as the version this script was written for."""
    for old, (new, expected) in official.cpu_rewrites.items():
        if source.count(old) != expected:
            return None
        source = source.replace(old, new)
    return source


def load_pretrain(checkout: Path, official: Official) -> types.ModuleType:
    """pretrain.py, compiled from its source rewritten for the CPU (rewrite_for_cpu)."""
    path = checkout / "pretrain.py"
    source = rewrite_for_cpu(path.read_text(), official)
    module = types.ModuleType("pretrain")
    module.__file__ = str(path)
    sys.modules["pretrain"] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


# --------------------------------------------------------------------------- training


def pretrain_config(kind: str) -> dict[str, Any]:
    """The run's PretrainConfig (what hydra would compose), paths relative to --out. The
    evaluation saves its inputs, labels and logits (eval_save_outputs), to be read back."""
    official = OFFICIAL[kind]
    data: dict[str, Any] = {"data_path": data_dir(kind)}
    if official.data_key == "data_paths":
        data = {"data_paths": [data_dir(kind)], "evaluators": []}
    return dict(
        arch=official.arch, **data, global_batch_size=BATCH, epochs=EPOCHS, lr=1e-3,
        lr_min_ratio=0.1, lr_warmup_steps=20, weight_decay=0.1, beta1=0.9, beta2=0.95,
        puzzle_emb_lr=1e-2, puzzle_emb_weight_decay=0.1, project_name=PROJECT,
        run_name=f"{kind}_maze", checkpoint_path=checkpoint_dir(kind), seed=SEED,
        eval_save_outputs=["inputs", "labels", "logits"],
    )  # fmt: skip


def train_and_evaluate(kind: str, checkout: Path, workdir: Path) -> list[tuple[int | None, dict]]:
    """pretrain.py's launch, run in `workdir` (its relative paths); what it logged."""
    logged: list[tuple[int | None, dict]] = []
    os.environ["DISABLE_COMPILE"] = "1"
    os.environ.pop("LOCAL_RANK", None)
    torch.use_deterministic_algorithms(True)
    cwd = Path.cwd()
    attention = flash_attn_stand_in() if OFFICIAL[kind].flash_attn else contextlib.nullcontext()
    with modules_replaced(training_stubs(logged), checkout), attention:
        pretrain = load_pretrain(checkout, OFFICIAL[kind])
        os.chdir(workdir)
        try:
            pretrain.launch(pretrain_config(kind))
        finally:
            os.chdir(cwd)
    return logged


@contextlib.contextmanager
def official_output():
    """The official code's prints and progress bars go to a log file, kept (and named on
    stderr) only when the block fails."""
    log = Path(tempfile.mkstemp(prefix="official_e2e_", suffix=".log")[1])
    try:
        with (
            log.open("w") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            yield
    except BaseException:
        print(f"the official code failed; its output is in {log}", file=sys.stderr)
        raise
    log.unlink()


# --------------------------------------------------------------------------- the results


def official_eval(logged: list[tuple[int | None, dict]], predictions: Path) -> dict[str, Any]:
    """The evaluation's figures: exact_accuracy as evaluate returned it, and from the saved
    outputs the counted rows (labels not all IGNORE_LABEL_ID: the batch's padding is not)
    and the exact ones (argmax of the logits equal to every counted label, the loss head's
    seq_is_correct), checked against that fraction."""
    evals = [metrics["all"] for _, metrics in logged if "all" in metrics]
    if len(evals) != 1:
        raise RuntimeError(f"pretrain.py logged {len(evals)} evaluations, not 1 (no test data?)")
    fraction = float(evals[0]["exact_accuracy"])
    outputs = torch.load(predictions, weights_only=True)
    labels, preds = outputs["labels"], outputs["logits"].argmax(-1)
    counted = (labels != -100).any(-1)
    exact = counted & ((preds == labels) | (labels == -100)).all(-1)
    count, exact_count = int(counted.sum()), int(exact.sum())
    if np.float32(exact_count) / np.float32(count) != np.float32(fraction):
        raise RuntimeError(f"saved outputs give {exact_count}/{count}, evaluate {fraction}")
    return {
        "exact_accuracy": fraction,
        "exact_count": exact_count,
        "count": count,
        "exact_examples": torch.nonzero(exact).flatten().tolist(),
        "other_metrics": {k: float(v) for k, v in sorted(evals[0].items())},
    }


def checkpoint_record(root: Path, kind: str) -> dict[str, str]:
    """Where the weights and the saved outputs are (after deleting the copied official
    sources)."""
    folder = root / checkpoint_dir(kind)
    for name in OFFICIAL[kind].copied_sources:
        (folder / name).unlink(missing_ok=True)
    steps = [p for p in folder.iterdir() if re.fullmatch(r"step_\d+", p.name)]
    if len(steps) != 1:
        raise RuntimeError(f"{folder}: {len(steps)} checkpoints, not 1")
    (preds,) = folder.glob("step_*_all_preds.0")
    return {"weights": steps[0].relative_to(root).as_posix(),
            "outputs": preds.relative_to(root).as_posix()}  # fmt: skip


def dataset_record(root: Path, kind: str) -> dict[str, Any]:
    sizes = {}
    for split in ("train", "test"):
        metadata = json.loads((root / data_dir(kind) / split / "dataset.json").read_text())
        sizes[split] = {key: metadata[key] for key in ("total_groups", "seq_len")}
    return {"path": data_dir(kind), "builder": "dataset/build_maze_dataset.py",
            "config": {"aug": True}, "numpy_seed": BUILDER_SEED, "sizes": sizes}  # fmt: skip


MAZES = {
    "csv": "csv/{train,test}.csv", "side": MAZE_SIDE, "family": "obstacles",
    "wall_density": WALL_DENSITY, "min_path": MIN_PATH, "train": TRAIN_MAZES,
    "test": TEST_MAZES, "unique_shortest_route": True, "numpy_seed": MAZE_SEED,
}  # fmt: skip
REPLACED = {
    "pretrain.py CUDA placements": 'the string "cuda" read as "cpu", .cuda() as .cpu()',
    "torch.compile": "off: DISABLE_COMPILE=1",
    "distributed": "off: no LOCAL_RANK (pretrain.py's single-process path)",
    "wandb": "stub: init/finish no-ops, log recorded, run.log_code no-op",
    "adam_atan2.AdamATan2": "CPU stand-in computing the package's reference update",
    "hydra, omegaconf, coolname": "stubs (config passed as a dict, run named by the config)",
    "flash_attn_interface.flash_attn_func, flash_attn.flash_attn_func (HRM)": (
        "stand-in computing torch's scaled_dot_product_attention on (B, S, H, D)"
    ),
}


def run_official(kind: str, checkout: Path, staging: Path) -> dict[str, Any]:
    """Build the dataset, train and evaluate with one checkout; its manifest entry."""
    with official_output():
        build_dataset(checkout, staging / "csv", staging / data_dir(kind))
        forget_modules_of(checkout)  # the builder's `common` is the checkout's own
        logged = train_and_evaluate(kind, checkout, staging)
    checkpoint = checkpoint_record(staging, kind)
    return {
        "config": pretrain_config(kind),
        "dataset": dataset_record(staging, kind),
        "checkpoint": checkpoint,
        "official_eval": official_eval(logged, staging / checkpoint["outputs"]),
    }


def build(checkouts: dict[str, Path], out: Path, command: str) -> dict[str, Any]:
    """Everything under a fresh folder beside `out`, renamed to `out` when all is done."""
    commits = {kind: official_commit(path) for kind, path in checkouts.items()}
    stubbed = stub_missing_modules()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".official_e2e_", dir=out.parent)).resolve()
    try:
        write_csvs(staging / "csv")
        runs = {kind: run_official(kind, path, staging) for kind, path in checkouts.items()}
        manifest = {
            "official": {
                k: {"repository": OFFICIAL[k].repository, **c} for k, c in commits.items()
            },
            "command": command,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "stubbed_modules": stubbed,
            "replaced": REPLACED,
            "mazes": MAZES,
            "runs": runs,
            "files": file_entries(staging),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when renamed
    return manifest


def check_checkout(kind: str, checkout: Path) -> None:
    official = OFFICIAL[kind]
    what = f"a {official.repository} checkout"
    if not checkout.is_dir():
        raise BadInput(f"--{kind} {checkout}: no such folder (expected {what})")
    for name in official.needed:
        if not (checkout / name).is_file():
            raise BadInput(f"--{kind} {checkout}: not {what} ({name} is missing)")
    if rewrite_for_cpu((checkout / "pretrain.py").read_text(), official) is None:
        places = ", ".join(f"{old} {n} times" for old, (_, n) in official.cpu_rewrites.items())
        raise BadInput(f"--{kind} {checkout}: pretrain.py does not hold {places} (another version)")


def check_arguments(checkouts: dict[str, Path], out: Path) -> None:
    for kind, checkout in checkouts.items():
        check_checkout(kind, checkout)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise BadInput(f"--out {out}: a folder with other files in it (no manifest.json)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--trm", type=Path, required=True, help=f"a {OFFICIAL['trm'].repository} checkout"
    )
    parser.add_argument(
        "--hrm", type=Path, help=f"a {OFFICIAL['hrm'].repository} checkout (optional)"
    )
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/official_e2e"))
    args = parser.parse_args(argv)
    checkouts = {"trm": args.trm} | ({"hrm": args.hrm} if args.hrm else {})
    try:
        check_arguments(checkouts, args.out)
        given = " ".join(f"--{kind} {path}" for kind, path in checkouts.items())
        command = f"python tools/official_e2e.py {given} --out {args.out}"
        manifest = build({k: p.resolve() for k, p in checkouts.items()}, args.out, command)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for kind, entry in manifest["runs"].items():
        figures = entry["official_eval"]
        print(f"{kind}: official exact {figures['exact_count']}/{figures['count']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # made on a CPU
    sys.exit(main())
