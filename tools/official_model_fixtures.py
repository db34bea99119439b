"""Fixtures made by the official HRM and TRM models, for tests/models/test_official_equivalence.py.

    python tools/official_model_fixtures.py --hrm /path/to/HRM --trm /path/to/TinyRecursiveModels \
        --out tests/fixtures/official_models

Run it with OMP_NUM_THREADS=1: the training step's gradients are summed in another order
with more threads, and only one thread gives the committed files byte for byte.

For each tiny config in CONFIGS (TRM with attention, TRM with its MLP mixer `mlp_t`, HRM;
forward_dtype float32, on a CPU) this script

1. imports the official model class from the checkout (sys.path insertion; both checkouts
   have a top-level package `models`, so it is dropped from sys.modules between them),
2. seeds torch and builds the official ACT wrapper from the config dict, as pretrain.py's
   create_model does (without its loss head and torch.compile, which only rename keys),
3. overwrites the weights the official init sets to constants (the puzzle-embedding table,
   zero; the q head, weight 0 and bias -5) with seeded random values, so that a test of
   the key mapping and of the q head can fail, then shifts the q_halt bias so that the
   first segment halts one row of three and not the others (balance_halting),
4. runs 4 segments (4 calls of the ACT wrapper, a new batch offered at each call, of which
   it takes only the rows that halted) twice: in eval mode, where a row halts at
   halt_max_steps, and in training mode with halt_exploration_prob 0, where a row halts by
   the official Q rule (HRM: q_halt > q_continue; TRM with no_ACT_continue: q_halt > 0) and
   HRM also returns target_q_continue,
5. writes, per config, `weights.safetensors` (the ACT wrapper's state dict under official
   names) and `expected.safetensors` (the batches and, per mode and segment, the logits,
   q_halt_logits, q_continue_logits, the carries z_H and z_L, steps and halted), plus one
   manifest.json (the official commits, this command, torch's version, every config, what
   was replaced, every file's size and sha256),
6. records training steps (for tests/train/test_official_step.py): the official loss head
   (models/losses.py ACTLossHead with stablemax_cross_entropy, as config/arch/*.yaml name
   it) wraps the same model, in training mode with halt_exploration_prob 0, and takes the
   same 4 batches with labels (LABELS below); each segment's loss is backpropagated as
   pretrain.py's train_batch does, ((1 / global_batch_size) * loss).backward(), and no
   optimizer step is taken, so every segment sees the fixture's weights. Written per
   config: `train_step.json` (each segment's loss and every metric the head returns, as
   the sums it returns them, and the global batch size pretrain.py divides the losses
   by) and
   `train_step.safetensors` (the labels, and at GRADIENT_SEGMENT the gradient of every
   parameter under its official name, with the puzzle-embedding rows' gradient
   `inner.puzzle_emb.local_weights` (B, dim) and their identifiers `local_ids`).

LABELS: labels only enter the loss, so they are made from the training run's own
predictions: the data of batch k's row r (k from 1) is scored until its row halts, and at that last
segment its labels are the prediction itself (exact) when (k + r) % 3 == 0, the prediction
with 2 cells changed when it is 1, random tokens when it is 2; every row has 3 cells set to
the official IGNORE_LABEL_ID (-100). So some halted rows are exact and others are not.

The tests read only these files; they never need the official code, and no official code
is copied into ponder. What is replaced while the official code runs (nothing else):

- flash-attention: HRM's models/layers.py imports `flash_attn_func` from
  `flash_attn_interface` or `flash_attn`, which need CUDA. Both names are given a stand-in
  module whose flash_attn_func(q, k, v, causal) takes and returns (B, S, H, D) tensors and
  computes torch's scaled_dot_product_attention (the kernel TRM's own layers.py uses).
- TRM's checkout needs `einops` (rearrange only); it is used as installed, not replaced
  (the manifest records its version; `pip install einops` where missing).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from official_data_fixtures import BadInput, official_commit
from safetensors.torch import save_file

SEGMENTS = 4
SEED = 0
GRADIENT_SEGMENT = 3  # every config has a row past its first segment there (a carried state)
IGNORED_CELLS, CHANGED_CELLS = 3, 2  # per row of the labels (LABELS in the docstring)

# checkout -> (module, class) of the official ACT wrapper, and files a checkout must have.
OFFICIAL = {
    "hrm": ("models.hrm.hrm_act_v1", "HierarchicalReasoningModel_ACTV1"),
    "trm": ("models.recursive_reasoning.trm", "TinyRecursiveReasoningModel_ACTV1"),
}
LOSS_MODULE = "models.losses"  # ACTLossHead and IGNORE_LABEL_ID, in both checkouts
LOSS_TYPE = "stablemax_cross_entropy"  # config/arch/{hrm,trm}.yaml's loss.loss_type
NEEDED = {
    "hrm": ("models/hrm/hrm_act_v1.py", "models/layers.py", "models/sparse_embedding.py",
            "models/losses.py"),
    "trm": ("models/recursive_reasoning/trm.py", "models/layers.py", "models/sparse_embedding.py",
            "models/losses.py"),
}  # fmt: skip
REPOSITORY = {"hrm": "sapientinc/HRM", "trm": "SamsungSAILMontreal/TinyRecursiveModels"}

# What the dataset metadata gives pretrain.py's create_model: batch 3 of a 4x4 grid.
DATA = dict(batch_size=3, seq_len=16, vocab_size=6, num_puzzle_identifiers=5)
TINY = dict(hidden_size=32, num_heads=2, expansion=4, puzzle_emb_ndim=32, halt_max_steps=3)
COMMON = dict(**DATA, **TINY, halt_exploration_prob=0.0, forward_dtype="float32")

# name -> (checkout, official config dict)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "trm_attention": (
        "trm",
        dict(COMMON, H_cycles=3, L_cycles=2, H_layers=0, L_layers=2, pos_encodings="rope",
             mlp_t=False, puzzle_emb_len=2, no_ACT_continue=True),
    ),
    "trm_mlp": (
        "trm",
        dict(COMMON, H_cycles=2, L_cycles=2, H_layers=0, L_layers=1, pos_encodings="learned",
             mlp_t=True, puzzle_emb_len=2, no_ACT_continue=True),
    ),
    "hrm": (
        "hrm",
        dict(COMMON, H_cycles=2, L_cycles=2, H_layers=1, L_layers=1, pos_encodings="rope"),
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- official code


def _sdpa_flash_attn_func(q, k, v, causal: bool = False, **_: Any) -> torch.Tensor:
    """flash_attn_func's contract on (B, S, H, D) tensors, computed by SDPA on (B, H, S, D)."""
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal
    )
    return out.transpose(1, 2)


@contextlib.contextmanager
def flash_attn_stand_in() -> Iterator[list[str]]:
    """sys.modules holds SDPA stand-ins for both flash-attention module names while the
    official layers are imported (the real ones need CUDA)."""
    names = ["flash_attn_interface", "flash_attn"]
    saved = {name: sys.modules.get(name) for name in names}
    for name in names:
        module = types.ModuleType(name)
        module.flash_attn_func = _sdpa_flash_attn_func  # type: ignore[attr-defined]
        sys.modules[name] = module
    try:
        yield names
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _drop_models_package() -> None:
    """Forget any imported `models` package: both checkouts have one of that name."""
    for name in [n for n in sys.modules if n == "models" or n.startswith("models.")]:
        del sys.modules[name]


def load_official_module(checkout: Path, module_name: str) -> types.ModuleType:
    """The official module `module_name` imported from `checkout`."""
    _drop_models_package()
    sys.path.insert(0, str(checkout))
    try:
        with flash_attn_stand_in():
            return importlib.import_module(module_name)
    finally:
        sys.path.remove(str(checkout))
        _drop_models_package()


def load_official_class(checkout: Path, kind: str) -> type:
    """The official ACT wrapper class imported from `checkout`."""
    module_name, class_name = OFFICIAL[kind]
    return getattr(load_official_module(checkout, module_name), class_name)


# --------------------------------------------------------------------------- one config


def perturb_constant_weights(model: torch.nn.Module, gen: torch.Generator) -> list[str]:
    """Seeded random values for the weights the official init sets to constants, so that
    a wrong mapping of them changes the outputs. Returns their names."""
    inner = model.inner
    hidden = inner.config.hidden_size
    with torch.no_grad():
        table = inner.puzzle_emb.weights  # (identifiers, puzzle_emb_ndim), zero at init
        table.copy_(torch.randn(table.shape, generator=gen) / hidden**0.5)
        q = inner.q_head  # weight 0, bias -5 at init: every q would be -5
        q.weight.copy_(torch.randn(q.weight.shape, generator=gen) * 2 / hidden**0.5)
        q.bias.copy_(torch.randn(q.bias.shape, generator=gen) * 0.1)
    return ["inner.puzzle_emb.weights", "inner.q_head.weight", "inner.q_head.bias"]


def halt_margin(model: torch.nn.Module, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) how far each row is from halting by the official rule: q_halt - q_continue
    (HRM, and TRM with no_ACT_continue false), or q_halt (TRM's default)."""
    if getattr(model.config, "no_ACT_continue", False):
        return outputs["q_halt_logits"]
    return outputs["q_halt_logits"] - outputs["q_continue_logits"]


def balance_halting(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """Shift the q_halt bias so that, at the first segment, one row of three is below the
    halting threshold and two are above it, each by half the gap between the two lowest
    margins: then the training-mode run halts some rows and not others (with random q
    weights every row fell on one side). Returns the shift."""
    model.eval()
    batch = {k: v.to(torch.int32) for k, v in batch.items()}
    with torch.no_grad():
        _, outputs = model(model.initial_carry(batch), batch)
        low, middle = halt_margin(model, outputs).sort().values[:2].tolist()
        shift = -(low + middle) / 2
        model.inner.q_head.bias[0] += shift
    return shift


def make_batches(arch: dict[str, Any], gen: torch.Generator) -> list[dict[str, torch.Tensor]]:
    """One batch per segment (int32, as the official loader gives them)."""
    b, length = arch["batch_size"], arch["seq_len"]
    return [
        {
            "inputs": torch.randint(0, arch["vocab_size"], (b, length), generator=gen),
            "puzzle_identifiers": torch.randint(
                0, arch["num_puzzle_identifiers"], (b,), generator=gen
            ),
        }
        for _ in range(SEGMENTS)
    ]


def run_segments(
    model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], training: bool
) -> dict[str, torch.Tensor]:
    """SEGMENTS calls of the ACT wrapper from its initial carry; what each one gave."""
    model.train(training)
    batches = [{k: v.to(torch.int32) for k, v in batch.items()} for batch in batches]
    carry = model.initial_carry(batches[0])
    mode = "train" if training else "eval"
    recorded = {}
    for segment, batch in enumerate(batches, start=1):
        with torch.set_grad_enabled(training):
            carry, outputs = model(carry, batch)
        values = dict(outputs)
        values.update(
            z_H=carry.inner_carry.z_H, z_L=carry.inner_carry.z_L,
            steps=carry.steps, halted=carry.halted,
        )  # fmt: skip
        for key, value in values.items():
            recorded[f"{mode}.segment{segment}.{key}"] = value.detach().clone().contiguous()
    return recorded


# --------------------------------------------------------------------------- training steps


def row_sources(halted: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per segment, (B,) the batch (1-based) each row's data came from: a row takes the
    new batch's row after it halted (at the first segment every row counts as halted)."""
    source = torch.ones(halted[0].shape, dtype=torch.long)
    sources = []
    for segment in range(1, len(halted) + 1):
        if segment > 1:
            source = torch.where(halted[segment - 2], segment, source)
        sources.append(source)
    return sources


def last_scored(expected: dict[str, torch.Tensor]) -> dict[tuple[int, int], int]:
    """(batch, row) -> the last segment of the training run that scores that row's data."""
    halted = [expected[f"train.segment{s}.halted"] for s in range(1, SEGMENTS + 1)]
    last = {}
    for segment, source in enumerate(row_sources(halted), start=1):
        for row, batch in enumerate(source.tolist()):
            last[(batch, row)] = segment
    return last


def make_labels(
    expected: dict[str, torch.Tensor], arch: dict[str, Any], gen: torch.Generator, ignore: int
) -> list[torch.Tensor]:
    """(B, L) int32 labels per batch (LABELS in the module docstring), read from the
    training run's predictions and halting flags in `expected`."""
    b, length, vocab = arch["batch_size"], arch["seq_len"], arch["vocab_size"]
    labels = [torch.randint(0, vocab, (b, length), generator=gen) for _ in range(SEGMENTS)]
    scored = last_scored(expected)
    for batch, rows in enumerate(labels, start=1):
        for row in range(b):
            cells = torch.randperm(length, generator=gen)  # (L,) which cells to ignore, change
            kind, segment = (batch + row) % 3, scored.get((batch, row))
            if segment is not None and kind < 2:
                rows[row] = expected[f"train.segment{segment}.logits"][row].argmax(-1)
                if kind == 1:
                    changed = cells[IGNORED_CELLS : IGNORED_CELLS + CHANGED_CELLS]
                    rows[row, changed] = (rows[row, changed] + 1) % vocab
            rows[row, cells[:IGNORED_CELLS]] = ignore
    return [rows.to(torch.int32) for rows in labels]


def _zero_grads(model: torch.nn.Module) -> None:
    """As optimizer.zero_grad() in pretrain.py: the dense parameters and the sparse
    embedding's local_weights (a buffer that requires grad; its optimizer's parameter)."""
    for param in model.parameters():
        param.grad = None
    model.inner.puzzle_emb.local_weights.grad = None


def gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter's gradient under its official name, and the puzzle-embedding rows'
    (B, dim) with their identifiers (B,). A parameter without one is an error."""
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    if missing:
        raise RuntimeError(f"official parameter {missing[0]} got no gradient")
    grads = {f"grad.{name}": p.grad for name, p in model.named_parameters()}
    emb = model.inner.puzzle_emb
    grads["grad.inner.puzzle_emb.local_weights"] = emb.local_weights.grad
    grads["inner.puzzle_emb.local_ids"] = emb.local_ids
    return {k: v.detach().clone().contiguous() for k, v in grads.items()}


def _same_forward(outputs: dict, carry: Any, expected: dict, segment: int) -> None:
    """The loss head's forward is the training run's, bit for bit (labels enter no forward)."""
    for key, value in (("logits", outputs["logits"]), ("halted", carry.halted)):
        if not torch.equal(value, expected[f"train.segment{segment}.{key}"]):
            raise RuntimeError(f"segment {segment}: the loss head's {key} is not the run's")


def run_training_steps(
    model: torch.nn.Module,
    loss_head_cls: type,
    batches: list[dict[str, torch.Tensor]],
    labels: list[torch.Tensor],
    expected: dict[str, torch.Tensor],
) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """SEGMENTS steps of pretrain.py's train_batch without the optimizer step: per segment
    the loss head's loss and metrics (as it returns them: sums over the batch), and the
    gradients of the step at GRADIENT_SEGMENT."""
    head = loss_head_cls(model, loss_type=LOSS_TYPE)
    head.train()
    batches = [
        {**{k: v.to(torch.int32) for k, v in batch.items()}, "labels": rows}
        for batch, rows in zip(batches, labels, strict=True)
    ]
    global_batch_size = batches[0]["inputs"].shape[0]
    carry, steps, grads = head.initial_carry(batches[0]), [], {}
    for segment, batch in enumerate(batches, start=1):
        _zero_grads(model)
        carry, loss, metrics, outputs, _ = head(return_keys=["logits"], carry=carry, batch=batch)
        ((1 / global_batch_size) * loss).backward()  # pretrain.py's train_batch
        _same_forward(outputs, carry, expected, segment)
        metrics = {k: v.item() for k, v in sorted(metrics.items())}
        steps.append({"segment": segment, "loss": loss.item(), "metrics": metrics})
        if segment == GRADIENT_SEGMENT:
            grads = gradients(model)
    _zero_grads(model)
    return steps, grads


def record_training_steps(
    model: torch.nn.Module,
    losses: types.ModuleType,
    arch: dict[str, Any],
    batches: list[dict[str, torch.Tensor]],
    expected: dict[str, torch.Tensor],
    folder: Path,
) -> None:
    """Write train_step.json and train_step.safetensors (see the module docstring)."""
    gen = torch.Generator().manual_seed(SEED + 2)
    labels = make_labels(expected, arch, gen, losses.IGNORE_LABEL_ID)
    steps, grads = run_training_steps(model, losses.ACTLossHead, batches, labels, expected)
    tensors = {f"batch{s}.labels": rows for s, rows in enumerate(labels, start=1)}
    save_file({**tensors, **grads}, str(folder / "train_step.safetensors"))
    record = {
        "loss_head": f"{LOSS_MODULE}.ACTLossHead",
        "loss_type": LOSS_TYPE,
        "ignore_label_id": losses.IGNORE_LABEL_ID,
        "global_batch_size": arch["batch_size"],
        "gradient_segment": GRADIENT_SEGMENT,
        "segments": steps,
    }
    (folder / "train_step.json").write_text(json.dumps(record, indent=2) + "\n")


def record_config(
    cls: type, losses: types.ModuleType, arch: dict[str, Any], folder: Path
) -> dict[str, Any]:
    """Build, perturb and run one official model; write its weights and expected tensors."""
    torch.manual_seed(SEED)
    model = cls(dict(arch))
    gen = torch.Generator().manual_seed(SEED + 1)
    perturbed = perturb_constant_weights(model, gen)
    batches = make_batches(arch, gen)
    shift = balance_halting(model, batches[0])
    folder.mkdir(parents=True)
    weights = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / "weights.safetensors"))
    expected = {}
    for segment, batch in enumerate(batches, start=1):
        for key, value in batch.items():
            expected[f"batch{segment}.{key}"] = value.to(torch.int32).contiguous()
    expected.update(run_segments(model, batches, training=False))
    expected.update(run_segments(model, batches, training=True))
    save_file(expected, str(folder / "expected.safetensors"))
    record_training_steps(model, losses, arch, batches, expected, folder)
    return {"perturbed_after_init": perturbed, "q_halt_bias_shift": shift}


# --------------------------------------------------------------------------- the command


def check_arguments(checkouts: dict[str, Path], out: Path) -> None:
    for kind, checkout in checkouts.items():
        what = f"a {REPOSITORY[kind]} checkout"
        if not checkout.is_dir():
            raise BadInput(f"--{kind} {checkout}: no such folder (expected {what})")
        for name in NEEDED[kind]:
            if not (checkout / name).is_file():
                raise BadInput(f"--{kind} {checkout}: not {what} ({name} is missing)")
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


def _einops_version() -> str | None:
    with contextlib.suppress(ImportError):
        import einops

        return einops.__version__
    return None


def build(checkouts: dict[str, Path], out: Path, command: str) -> None:
    """Everything under a fresh folder beside `out` first, then renamed to `out`, so a
    failure leaves the old fixtures as they were."""
    commits = {kind: official_commit(path) for kind, path in checkouts.items()}
    classes = {kind: load_official_class(path, kind) for kind, path in checkouts.items()}
    losses = {kind: load_official_module(path, LOSS_MODULE) for kind, path in checkouts.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".official_models_", dir=out.parent))
    try:
        configs = {}
        for name, (kind, arch) in CONFIGS.items():
            made = record_config(classes[kind], losses[kind], arch, staging / name)
            module, cls = OFFICIAL[kind]
            configs[name] = {"official": kind, "class": f"{module}.{cls}", "arch": arch,
                             "torch_seed": SEED, **made}  # fmt: skip
        manifest = {
            "official": {k: {"repository": REPOSITORY[k], **c} for k, c in commits.items()},
            "command": command,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "einops": _einops_version(),
            "replaced": {
                "flash_attn_interface.flash_attn_func, flash_attn.flash_attn_func": (
                    "stand-in computing torch's scaled_dot_product_attention on (B, S, H, D)"
                )
            },
            "segments": SEGMENTS,
            "modes": {
                "eval": "model.eval(): a row halts at halt_max_steps",
                "train": "model.train(), halt_exploration_prob 0: the official Q rule halts",
            },
            "training_step": {
                "loss_head": f"{LOSS_MODULE}.ACTLossHead(model, loss_type={LOSS_TYPE!r})",
                "backward": "((1 / global_batch_size) * loss).backward(), as pretrain.py",
                "optimizer": "none: every segment sees the fixture's weights",
                "gradients_at_segment": GRADIENT_SEGMENT,
                "labels": (
                    "a row's data, at the last segment that scores it: the prediction (exact) "
                    "when (batch + row) % 3 == 0, with 2 cells changed when 1, random when 2; "
                    f"{IGNORED_CELLS} cells per row IGNORE_LABEL_ID"
                ),
            },
            "configs": configs,
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
    parser.add_argument("--hrm", type=Path, required=True, help="a sapientinc/HRM checkout")
    parser.add_argument(
        "--trm", type=Path, required=True, help="a SamsungSAILMontreal/TinyRecursiveModels checkout"
    )
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/official_models"))
    args = parser.parse_args(argv)
    checkouts = {"hrm": args.hrm, "trm": args.trm}
    try:
        check_arguments(checkouts, args.out)
        command = (
            f"python tools/official_model_fixtures.py --hrm {args.hrm} --trm {args.trm} "
            f"--out {args.out}"
        )
        build({k: p.resolve() for k, p in checkouts.items()}, args.out, command)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the fixtures are made on a CPU
    sys.exit(main())
