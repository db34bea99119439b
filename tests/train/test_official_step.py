"""ponder's training step computes what the official one computes (fp32, CPU, within 1e-5).

The fixtures under tests/fixtures/official_models (tools/official_model_fixtures.py) hold,
per tiny config, what the official loss head (models/losses.py ACTLossHead with
stablemax_cross_entropy) gave over 4 training segments of the official ACT wrapper, with
halt_exploration_prob 0 and no optimizer step: each segment's loss and metrics, and at one
segment the gradient of every parameter after pretrain.py's backward of loss / batch size.

Here ponder's own engine runs those segments: a Trainer with the grid objective and the
official recipe's keys (train.loss stablemax, halt_loss_weight 0.5, the official halting
rule, N_sup and exploration via official_train_keys, no gradient clipping) takes the same
batches through train_step, so its refill of halted rows, its segment (the objective's
loss, HRM's q_continue target), its backward and its halting decision are the real ones.
Only _clip_and_step, the optimizer's update, is replaced by a recorder of the gradients,
as the fixtures take no optimizer step either.

The official head returns sums over the batch and pretrain.py divides them for its log
(metrics ending in "loss" by the global batch size, the others by `count`); ponder's parts
are batch means and its metrics (sum, count) pairs. Two official metrics have no ponder
counterpart by default (OFFICIAL_ONLY says why); train.official_metrics logs them too, and
the tests compare them with it on; docs/official.md lists every difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from ponder.config import RunConfig
from ponder.config.train import TrainConfig
from ponder.models import DataSpec, build_model
from ponder.models.embedding import PuzzleEmbedding
from ponder.models.official_keys import (
    config_from_official,
    from_official,
    official_train_keys,
    ponder_key,
)
from ponder.objectives import GridObjective
from ponder.train.engine import Trainer
from ponder.train.runtime import Runtime

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official_models"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CONFIGS = list(MANIFEST["configs"])
TOLERANCE = 1e-5
NAMES = {"trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
         "hrm": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"}  # fmt: skip
PUZZLE_ROWS = "inner.puzzle_emb.local_weights"  # the official sparse embedding's (B, dim)

# official loss metric -> ponder's part; each a sum over the batch there, a mean here.
LOSS_PARTS = {"lm_loss": "lm_loss", "q_halt_loss": "halt_loss", "q_continue_loss": "continue_loss"}
# official metric -> ponder's (sum, count) metric with the same sum over the halted rows.
HALTED_SUMS = {"exact_accuracy": "label_exact", "steps": "halt_steps"}
OFFICIAL_ONLY = {
    # ponder's token_acc pools the cells of every row, halted or not.
    "accuracy": "the mean over halted rows of each row's share of right cells",
    # ponder reports halt_precision and halt_recall: counting the rows that rightly did not
    # halt as hits makes a head that never halts look accurate on a hard task.
    "q_halt_accuracy": "halted rows where (q_halt >= 0) == (the whole answer is right)",
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The models are tiny: one thread runs them in milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _arch(config: str) -> dict:
    entry = MANIFEST["configs"][config]
    return {"name": NAMES[entry["official"]], **entry["arch"]}


def _official_step(config: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(train_step.json, train_step.safetensors) of one config."""
    record = json.loads((FIXTURES / config / "train_step.json").read_text())
    return record, load_file(FIXTURES / config / "train_step.safetensors")


def _batches(config: str) -> list[dict[str, torch.Tensor]]:
    """The 4 batches the official run took: inputs and labels (B, L), identifiers (B,)."""
    expected = load_file(FIXTURES / config / "expected.safetensors")
    _, tensors = _official_step(config)
    return [
        {
            "inputs": expected[f"batch{s}.inputs"].long(),
            "labels": tensors[f"batch{s}.labels"].long(),
            "puzzle_identifiers": expected[f"batch{s}.puzzle_identifiers"].long(),
        }
        for s in range(1, MANIFEST["segments"] + 1)
    ]


def _official_recipe(arch: dict, tmp_path: Path) -> RunConfig:
    """ponder's keys for the official training step: stablemax, the halting loss weighed
    0.5 (the head's lm_loss + 0.5 * (q_halt_loss + q_continue_loss)), the official halting
    rule, N_sup and exploration, and no clipping (pretrain.py clips nothing)."""
    train = TrainConfig(
        loss="stablemax",
        halt_loss_weight=0.5,
        grad_clip=0.0,
        global_batch_size=arch["batch_size"],
        official_metrics=True,
        **official_train_keys(arch),
    )
    return RunConfig(
        run_dir=str(tmp_path), device="cpu", precision="fp32", objective="grid",
        model=config_from_official(arch), train=train,
    )  # fmt: skip


def _dataset(arch: dict, ignore: int) -> SimpleNamespace:
    """What the grid objective reads of a dataset: its spec and ignore label (the official
    head's IGNORE_LABEL_ID, which the official loader puts where dataset.json's is)."""
    spec = DataSpec(
        vocab_size=arch["vocab_size"],
        seq_len=arch["seq_len"],
        grid_shape=(4, 4),
        num_puzzle_identifiers=arch["num_puzzle_identifiers"],
    )
    metadata = SimpleNamespace(ignore_label_id=ignore)
    return SimpleNamespace(
        task=None, spec=spec, fewshot=False, train=SimpleNamespace(metadata=metadata)
    )


class _Batches:
    """A loader that hands out the official run's batches, one per step."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]):
        self.batches = batches

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.batches[step].items()}


def _trainer(config: str, tmp_path: Path) -> Trainer:
    arch = _arch(config)
    record, _ = _official_step(config)
    run = _official_recipe(arch, tmp_path)
    data = _dataset(arch, record["ignore_label_id"])
    model = build_model(run.model, data.spec)
    weights = load_file(FIXTURES / config / "weights.safetensors")
    model.load_state_dict(from_official(model, weights))
    model.train()
    cpu = Runtime(device=torch.device("cpu"), dtype=torch.float32)
    return Trainer(
        run, model, _Batches(_batches(config)), cpu, tmp_path,
        evaluate=lambda _: {}, objective=GridObjective(run, data),
    )  # fmt: skip


def _gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """ponder's gradients: every parameter's, and the puzzle-embedding rows' (B, dim) and
    identifiers (B,) the sparse optimizer would read."""
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    (table,) = [m for m in model.modules() if isinstance(m, PuzzleEmbedding)]
    grads["puzzle.rows"], grads["puzzle.ids"] = table.rows.grad.clone(), table.ids.clone()
    return grads


def _run_engine(config: str, tmp_path: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """The engine's train_step on each official batch in turn: per segment the metric sums
    and counts it recorded, and the gradients at the fixtures' gradient segment."""
    trainer = _trainer(config, tmp_path)
    record, _ = _official_step(config)
    segments, grads = [], {}

    def record_gradients() -> None:  # in place of the clipping and the optimizer steps
        if len(segments) + 1 == record["gradient_segment"]:
            grads.update(_gradients(trainer.model))

    trainer._clip_and_step = record_gradients
    for step, batch in enumerate(trainer.loader.batches):
        trainer.step = step
        trainer.train_step(batch)
        sums = trainer.sums
        sums.means()  # reads the tensors back to floats
        segments.append({k: (sums.sums[k], sums.counts[k]) for k in sums.counts})
        sums.reset()
    return segments, grads


def _close(have: float, want: float) -> bool:
    return abs(have - want) <= TOLERANCE


@pytest.mark.parametrize("config", CONFIGS)
def test_loss_and_metrics_match_the_official_head(config, tmp_path):
    record, _ = _official_step(config)
    batch = record["global_batch_size"]
    got, _ = _run_engine(config, tmp_path)
    problems = []
    for want, have in zip(record["segments"], got, strict=True):
        official, where = want["metrics"], f"segment {want['segment']}"
        if ("continue_loss" in have) != ("q_continue_loss" in official):
            problems.append(f"{where}: a q_continue loss on one side only")
        # each a mean over the batch, logged with count 1: (ours (sum, count), official)
        means = {"loss": (have["loss"], want["loss"] / batch)}
        means.update(
            {k: (have.get(v), official[k] / batch) for k, v in LOSS_PARTS.items() if k in official}
        )
        for key, (ours, wanted) in means.items():
            value, count = ours or (None, 0)
            if count != 1 or value is None or not _close(value, wanted):
                problems.append(f"{where} {key}: {value} (a mean of {count}) != official {wanted}")
        for name, ours in HALTED_SUMS.items():
            wanted = (official[name], official["count"])
            if have[ours] != wanted:
                problems.append(f"{where} {name}: (sum, count) {have[ours]} != official {wanted}")
        for name in OFFICIAL_ONLY:  # train.official_metrics: the same names and sums
            (value, count), wanted = have[name], official[name]
            if count != official["count"] or not _close(value, wanted):
                problems.append(f"{where} {name}: ({value}, {count}) != official {wanted}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("config", CONFIGS)
def test_every_gradient_matches_the_official_step(config, tmp_path):
    _, official = _official_step(config)
    name = MANIFEST["configs"][config]["official"]
    _, got = _run_engine(config, tmp_path)
    wanted = {k.removeprefix("grad."): v for k, v in official.items() if k.startswith("grad.")}
    mapped = {"puzzle.rows" if k == PUZZLE_ROWS else ponder_key(name, k): k for k in wanted}
    assert set(got) - {"puzzle.ids"} == set(mapped), "every parameter has one official gradient"
    problems = []
    for ours, theirs in mapped.items():
        diff = (got[ours] - wanted[theirs]).abs().max().item()
        if got[ours].shape != wanted[theirs].shape or diff > TOLERANCE:
            problems.append(f"{theirs} (ponder {ours}): max |diff| {diff:.2e}")
    assert not problems, "\n".join(problems)
    assert torch.equal(got["puzzle.ids"], official["inner.puzzle_emb.local_ids"].long())


def test_the_fixtures_make_the_comparison_able_to_fail():
    """Halted rows both exact and not, some of every row's cells ignored, gradients far
    from zero, and every official metric either compared or named as without counterpart."""
    for config in CONFIGS:
        record, tensors = _official_step(config)
        exact = [s["metrics"]["exact_accuracy"] for s in record["segments"]]
        counts = [s["metrics"]["count"] for s in record["segments"]]
        assert any(exact) and any(e < c for e, c in zip(exact, counts, strict=True)), config
        labels = torch.stack([tensors[f"batch{s}.labels"] for s in range(1, 5)])  # (4, B, L)
        assert ((labels == record["ignore_label_id"]).sum(-1) > 0).all(), config
        assert tensors["grad.inner.lm_head.weight"].abs().max() > 100 * TOLERANCE, config
        compared = {"count", *LOSS_PARTS, *HALTED_SUMS, *OFFICIAL_ONLY}
        assert set(record["segments"][0]["metrics"]) <= compared, config
