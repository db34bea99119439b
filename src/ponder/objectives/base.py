"""What every answer formulation (objective) provides, and the parts they share.

An objective is one way of reading a model's answer and judging it: grid tokens (`grid`),
next-cell pointers along a route (`path`), or answers to few-shot tasks voted across views
(`fewshot`). Each owns its config section, what it derives from a dataset when it opens,
its training loss (the total and its named parts), its decoding, and its judging and
outputs (report, pictures, submission). The engine and `ponder eval` / `ponder solve` only
call these methods; they never ask which formulation they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch

from ponder.errors import UserError
from ponder.eval.config import EvalConfig
from ponder.eval.evaluate import Depth, depth_curve
from ponder.models import GRID_TOKEN_MODELS, SEQUENCE_MODELS, ModelConfig, size_bound_reason
from ponder.models.base import DataSpec, ModelOutputs
from ponder.models.grid import grid_of
from ponder.models.halting import StopRule
from ponder.models.rollout import rollout

if TYPE_CHECKING:
    from ponder.data.dataset import Dataset

# (loss, parts to log, correct (B,) bool: the whole answer matches its label)
LossResult = tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]


class RunSettings(Protocol):
    """What an objective reads of a run's config. The run config (ponder.config.RunConfig)
    composes the objectives' own sections, so it sits above them and they name only the
    parts they read: any RunConfig is one of these."""

    objective: str
    model: ModelConfig
    # ponder.config.TrainConfig: the loss keys (loss, halt_loss_weight, label_change_weight,
    # label_smoothing) and the depth (N_sup, halting) an objective's loss and judging use.
    train: Any
    eval: EvalConfig


@dataclass
class Judgement:
    report: dict[str, Any]  # scalar metrics (exact with its CI, ...) and a few lists
    predictions: Any  # the formulation's decoded answers
    details: Any  # per-answer verdicts (grid, path) or ranked candidates per task (fewshot)

    def scalars(self) -> dict[str, float]:
        """The numbers worth logging as scalars (drops lists such as the halt histogram)."""
        return {k: float(v) for k, v in self.report.items() if isinstance(v, int | float)}


class Objective:
    """The base of every formulation; subclasses set `name` and `Config`."""

    name: ClassVar[str]
    section: ClassVar[str]  # the config section it owns (RunConfig.<section>)

    def __init__(self, config: RunSettings, data: Dataset):
        """Bound to the run's own dataset (data.path): its task and shape fix the loss."""
        self.config = config
        self.task, self.spec = data.task, data.spec
        self.prepare(data)
        self._bind(data)
        if config.train.official_metrics and type(self).cell_shares is Objective.cell_shares:
            raise UserError(
                f"train.official_metrics reads answer cells; objective '{self.name}' has none "
                "(use objective grid)"
            )

    def _bind(self, data: Dataset) -> None:
        """Build what the loss needs from the run's dataset (subclasses)."""

    @property
    def settings(self):
        """This formulation's config section."""
        return getattr(self.config, self.section)

    # ----- the dataset ---------------------------------------------------------------------
    def prepare(self, data: Dataset) -> Dataset:
        """Refuse a dataset this formulation cannot use; derive what it needs (in place).
        Every dataset a run opens goes through here: its own, curriculum stages, --data."""
        if data.fewshot:
            raise UserError(
                f"objective '{self.name}' answers one puzzle at a time; this dataset holds "
                f"few-shot tasks ({data.task.name}): use objective 'fewshot' (or 'auto')"
            )
        self._refuse_demonstration_models(data)
        return data

    def data_spec(self, spec: DataSpec) -> DataSpec:
        """The spec the model is built for: the dataset's, with this answer head."""
        return replace(spec, pointer_horizons=0)

    def refuse_grid_token_models(self, what: str) -> None:
        """Models that only map an input grid to output tokens cannot serve `what`."""
        name = self.config.model.name
        if name in GRID_TOKEN_MODELS:
            raise UserError(f"model {name} answers an input grid with grid tokens only; {what}")

    def _refuse_demonstration_models(self, data: Dataset) -> None:
        """Sequence models and demonstration encoders read a few-shot batch's demonstrations."""
        model = self.config.model
        if model.name in SEQUENCE_MODELS:
            raise UserError(f"model {model.name} needs a few-shot dataset (skills, arc)")
        for key in ("demo_encoder", "demo_memory"):
            if getattr(model, key, None) is not None:
                raise UserError(f"model.{key} needs a few-shot dataset (skills, arc)")

    # ----- training ------------------------------------------------------------------------
    def loss(
        self, out: ModelOutputs, batch: dict, q_continue_target: torch.Tensor | None
    ) -> LossResult:
        raise NotImplementedError

    def batch_transform(self):
        """A function applied to fresh training examples (MLM-U), or None."""
        return None

    def diagnostics(self, out: ModelOutputs, batch: dict) -> dict[str, torch.Tensor]:
        """The model's statistics worth logging each step, as their mean (the prefix's norm,
        PoH's routing entropy, an LPN's KL); per-row vectors are left to the subclasses."""
        stats = out.stats or {}
        return {k: v.detach().float().mean() for k, v in stats.items() if k not in _PER_ROW}

    def targets_at(self, batch: dict, segments: int) -> dict:
        """The batch whose labels the answer after `segments` segments is trained towards:
        the batch itself, or with grid.hint an exact rule's state at that depth."""
        return batch

    def cell_shares(self, out: ModelOutputs, batch: dict) -> torch.Tensor | None:
        """(B,) each row's share of right answer cells, as the official HRM/TRM loss head
        counts them (train.official_metrics); None where the formulation has no such cells."""
        return None

    def log_notes(self, step: int, means: dict[str, float]) -> list[str]:
        """Warnings to print with a training log line (none by default)."""
        return []

    # ----- judging -------------------------------------------------------------------------
    def depth(
        self,
        device: torch.device,
        limit: int = 0,
        segments: int | str | None = None,
        tasks: int = 0,
        stop: StopRule | None = None,
        cap: int | None = None,
    ) -> Depth:
        """How to run the model when judging: train.N_sup segments (training's periodic
        evaluations), or `segments` (`ponder eval --segments`: a count, judged with an
        exact-by-depth curve, or "auto": each example until its stop rule says done, at
        most `cap` segments, AUTO_CAP x N_sup by default). `stop`: the stop rule of "auto"
        (default: the run's halting rule, read from the q heads)."""
        tc = self.config.train
        auto = segments == "auto"
        check_stop_request(segments, stop is not None or cap is not None)
        count = (cap or tc.N_sup * AUTO_CAP) if auto else segments or tc.N_sup
        return Depth(
            segments=count,
            halt_rule=tc.halting if stop is None else stop,
            batch_size=self.config.eval.batch_size,
            device=device,
            limit=limit,
            tasks=tasks,
            until_halt=auto,
            curve=depth_curve(count) if segments is not None and not auto else (),
        )

    def judge(self, model: torch.nn.Module, data: Dataset, depth: Depth) -> Judgement:
        raise NotImplementedError

    def write_outputs(self, data: Dataset, judged: Judgement, out_dir: Path) -> dict[str, str]:
        """Files beside eval/metrics.json (pictures, a submission): {name: path}."""
        return {}

    def format_report(self, report: dict, title: str = "") -> str:
        raise NotImplementedError

    def solve(
        self,
        run,
        text: str,
        png: Path | None = None,
        segments: int | str | None = None,
        stop: StopRule | None = None,
        cap: int | None = None,
    ) -> dict:
        """Answer one puzzle file's text with a trained run: {"ascii", "verdict"}; the
        model runs N_sup segments as in evaluation, or `segments` (a count, or "auto": until
        its stop rule says done, at most `cap` segments; see depth)."""
        task = run.data.task
        puzzle = task.parse_puzzle(text)
        inputs, batch = puzzle_batch(run, puzzle)
        depth = self.depth(run.runtime.device, segments=segments, stop=stop, cap=cap)
        with torch.no_grad(), run.runtime.autocast():
            done = rollout(
                run.model, batch, depth.segments, rule=depth.halt_rule,
                read=lambda out: out.logits.float(), until_halt=depth.until_halt,
            )  # fmt: skip
        logits = done.at_halt if depth.until_halt else done.answer
        answer = self.decode_one(logits, inputs, puzzle)
        used = int(done.halt_step[0]) if depth.until_halt else depth.segments
        verdict = {**task.verify(puzzle, answer), "segments": used}
        if png is not None:
            task.render_png(png, [(puzzle, answer, task.solve(puzzle), verdict)])
        return {"ascii": task.render_ascii(answer), "verdict": verdict}

    def decode_one(
        self, logits: torch.Tensor, inputs: torch.Tensor, puzzle: np.ndarray
    ) -> np.ndarray:
        """The answer grid of a one-puzzle batch (inputs (1, L)) from its answer logits."""
        raise NotImplementedError


def check_other_size(model_config, task, trained_len: int, shape, what: str) -> None:
    """Refuse to run a model on grids of another size than it was trained on (`shape`)
    unless its weights do not depend on the size and the grid keeps the training grid's
    shape rule (square stays square). One line naming why."""
    trained = task.grid_shape(trained_len)
    where = f"{what} is {shape[0]}x{shape[1]} but the run was trained on {trained[0]}x{trained[1]} grids"
    reason = size_bound_reason(model_config)
    if reason:
        raise UserError(f"{where}, and the model cannot run on another size: {reason}")
    try:
        fits = grid_of(shape[0] * shape[1], trained) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise UserError(f"{where}, and its rows and columns do not keep the training grid's shape")


def check_stop_request(segments: int | str | None, asks_stop: bool) -> None:
    """UserError when a stop rule or a cap is asked for (`asks_stop`) without `segments`
    "auto": with a fixed count every puzzle runs that many segments."""
    if asks_stop and segments != "auto":
        raise UserError(
            "--halt and --max-segments choose when --segments auto stops; with "
            "--segments N every puzzle runs N segments"
        )


def puzzle_batch(run, puzzle: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A one-puzzle batch for `run`'s model; a puzzle from a file has no identifier, so it
    gets the blank one. UserError when its grid is not the size the run was trained on."""
    task, seq_len = run.data.task, run.trained_seq_len
    if puzzle.size != seq_len:
        check_other_size(run.config.model, task, seq_len, puzzle.shape, "the puzzle")
    inputs = torch.as_tensor(task.encode(puzzle)[None], device=run.runtime.device)
    blank = run.data.train.metadata.blank_identifier_id or 0
    return inputs, {"inputs": inputs, "puzzle_identifiers": torch.full_like(inputs[:, 0], blank)}


_PER_ROW = ("encoder_latent",)  # (B, Z) task vectors: the few-shot objective reads them
AUTO_CAP = 16  # `--segments auto` runs an example at most this many times N_sup segments
