"""The few-shot objective (skills, ARC): answer a task's test inputs from its demonstrations.

Training: the token cross-entropy of each example's answer grid, as the grid objective
computes it, plus the demonstration encoder's diagnostics (the spread of its task vectors
across the batch's tasks: the collapse detector). Judging: every view of a test task
(dihedral, colour permutation) gives a candidate once its augmentation is undone; votes
rank them and pass@1 / pass@2 are scored per test input and per task (ponder.eval.fewshot).
With fewshot.ttt_steps, each task is answered by a copy of the model fine-tuned on its
demonstrations first (test-time training, ponder.eval.ttt).
Outputs: eval/submission.json in the ARC Prize format and PNGs of tasks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from ponder.data.fewshot import first_tasks, read_task_names, read_task_skills
from ponder.errors import UserError
from ponder.eval.fewshot import (
    SearchSettings,
    fewshot_report,
    format_fewshot_report,
    predict_fewshot,
    score_ranked,
    skill_scores,
    stored_truths,
    write_fewshot_outputs,
)
from ponder.eval.ttt import TTTSettings, predict_fewshot_ttt, ttt_layout
from ponder.models.base import FrozenConfig
from ponder.models.conditioning import collapse_stats
from ponder.objectives.base import Depth, Judgement, LossResult, Objective
from ponder.objectives.grid import ignore_label
from ponder.objectives.losses import segment_loss

MAX_TTT_STEPS = 10_000  # far beyond a useful fine-tuning; bounds a typo's running time
MAX_TTT_VIEWS = 1000  # as `ponder data build arc --test-views`


class FewShotConfig(FrozenConfig):
    """Used by the few-shot objective (datasets of tasks with demonstrations: skills, arc)."""

    collapse_threshold: float = Field(0.05, ge=0)
    """The collapse detector: a warning when the spread of the demonstration encoder's task
    vectors across distinct tasks, relative to their size, falls below this."""
    latent_search_steps: int = Field(0, ge=0)
    """Test-time latent search (LPN), for a model with model.demo_encoder: gradient steps
    on each task vector to fit the demonstrations before answering (0: off)."""
    latent_search_lr: float = Field(0.1, gt=0)
    """Adam learning rate of the test-time latent search."""
    ttt_steps: int = Field(0, ge=0, le=MAX_TTT_STEPS)
    """Test-time training: before answering a task, Adam steps on a copy of the model's
    weights fitting that task's demonstrations (each predicted from the others, under every
    view of fewshot.ttt_views); the copy answers and the model itself is unchanged. Runs at
    every evaluation, training's periodic ones too (`ponder eval --ttt-steps N` runs it only
    after training). Test outputs are never read (0: off)."""
    ttt_lr: float = Field(3e-4, gt=0, le=1.0)
    """Adam learning rate of test-time training."""
    ttt_params: Literal["all", "head", "encoder"] = "all"
    """The weights test-time training tunes: all (every parameter; a puzzle-embedding table
    is not a parameter and stays), head (the answer head lm_head only), encoder (the
    demonstration encoder only: model.demo_encoder)."""
    ttt_views: int = Field(8, ge=1, le=MAX_TTT_VIEWS)
    """Views per task in test-time training: the dataset's test views of the task, topped up
    with random dihedral and colour views to this many; fine-tuning sees the demonstrations
    under each, each answers every test input, and the answers vote (pass@2 counts)."""


class FewShotObjective(Objective):
    name = "fewshot"
    section = "fewshot"

    def prepare(self, data):
        if not data.fewshot:
            raise UserError(
                f"objective 'fewshot' needs a few-shot dataset (skills, arc); this dataset's "
                f"task is {data.task.name}"
            )
        self.refuse_grid_token_models("a few-shot task needs a model that reads its demonstrations")
        return data

    def _bind(self, data) -> None:
        self._ignore = ignore_label(data)
        self.search = SearchSettings(
            self.settings.latent_search_steps, self.settings.latent_search_lr
        )
        if self.search.steps and getattr(self.config.model, "demo_encoder", None) is None:
            raise UserError("fewshot.latent_search_steps needs a model with model.demo_encoder")
        s = self.settings
        self.ttt = TTTSettings(s.ttt_steps, s.ttt_lr, s.ttt_params, s.ttt_views)
        if self.ttt.steps:
            self._check_ttt()

    def _check_ttt(self) -> None:
        """Refuse test-time training settings the run's model cannot use."""
        if self.search.steps:
            raise UserError(
                "fewshot.ttt_steps and fewshot.latent_search_steps are two test-time "
                "options: set one of them to 0"
            )
        model = self.config.model
        if self.ttt.params == "encoder" and getattr(model, "demo_encoder", None) is None:
            raise UserError("fewshot.ttt_params 'encoder' needs a model with model.demo_encoder")

    def loss(self, out, batch, q_continue_target) -> LossResult:
        tc = self.config.train
        return segment_loss(
            out,
            batch,
            kind=tc.loss,
            ignore_label=self._ignore,
            halt_weight=tc.halt_loss_weight,
            change_weight=tc.label_change_weight,
            q_continue_target=q_continue_target,
            label_smoothing=tc.label_smoothing,
        )

    def diagnostics(self, out, batch) -> dict[str, torch.Tensor]:
        """The base statistics, and for a demonstration encoder the spread of its task
        vectors across the batch's distinct tasks (absolute, and relative to the vectors'
        rms size: the collapse detector)."""
        found = super().diagnostics(out, batch)
        latent = (out.stats or {}).get("encoder_latent")
        if latent is not None:
            spread = collapse_stats(latent.detach().float(), batch["puzzle_identifiers"])
            found.update({k: torch.tensor(v) for k, v in spread.items()})
            rms = spread["encoder_norm"] / max(latent.shape[-1], 1) ** 0.5
            found["encoder_spread_relative"] = torch.tensor(
                spread["encoder_spread"] / max(rms, 1e-12)
            )
        return found

    def log_notes(self, step: int, means: dict[str, float]) -> list[str]:
        spread, floor = means.get("encoder_spread_relative"), self.settings.collapse_threshold
        if spread is None or spread >= floor:
            return []
        return [
            f"warning: step {step}: demonstration encoder may have collapsed: task vectors "
            f"spread {spread:.3g} of their size across tasks (fewshot.collapse_threshold "
            f"{floor:g})"
        ]

    def judge(self, model, data, depth: Depth) -> Judgement:
        if depth.until_halt:
            raise UserError("--segments auto needs a halting answer per puzzle; few-shot tasks "
                            "are voted across views: give a segment count")  # fmt: skip
        names = read_task_names(data.root, "test")
        split = data.test
        if depth.tasks:  # `ponder eval --tasks N`
            split, names = first_tasks(split, names, depth.tasks)
        judged = self._answer(model, split, depth, names)
        skills = read_task_skills(data.root, "test")
        if skills is not None and not depth.limit:  # skills data: which skills are learnt
            skills = {set_name: found[: len(names[set_name])] for set_name, found in skills.items()}
            judged.report["by_skill"] = skill_scores(split, judged.details, names, skills)
        return judged

    def _answer(self, model, split, depth: Depth, names: dict) -> Judgement:
        if self.ttt.steps:
            return self._judge_with_ttt(model, split, depth, names)
        preds = predict_fewshot(
            model, split, n_sup=depth.segments, batch_size=depth.batch_size,
            device=depth.device, limit=depth.limit, search=self.search,
        )  # fmt: skip
        report, ranked = fewshot_report(split, preds, names)
        return Judgement(report, preds, ranked)

    def _judge_with_ttt(self, model, split, depth: Depth, names: dict) -> Judgement:
        """Each task answered by a copy of the model fine-tuned on its demonstrations; the
        stored test outputs are read only to score the answers."""
        flat = [name for names_of_set in names.values() for name in names_of_set]
        layout = ttt_layout(split, depth.segments, depth.batch_size, depth.device)
        answers = predict_fewshot_ttt(model, split, flat, layout, self.ttt, depth.limit)
        truths = stored_truths(split, flat, answers.groups)
        report = score_ranked(answers.ranked, truths, names, answers.loss)
        report["ttt"] = dataclasses.asdict(self.ttt)
        return Judgement(report, answers, answers.ranked)

    def write_outputs(self, data, judged: Judgement, out_dir: Path) -> dict[str, str]:
        return write_fewshot_outputs(data, judged.details, out_dir, self.config.eval.samples_png)

    def format_report(self, report: dict, title: str = "") -> str:
        return format_fewshot_report(report, title=title)

    def solve(
        self, run, text: str, png: Path | None = None, segments=None, stop=None, cap=None
    ) -> dict:
        from ponder.eval.fewshot_solve import solve_fewshot_task

        if segments is not None or stop is not None or cap is not None:
            raise UserError(
                "--segments, --halt and --max-segments are for grid and path runs; a few-shot "
                "run answers at its N_sup"
            )

        task = run.data.task.parse_puzzle(text)
        return solve_fewshot_task(run, task, png, self.search, self.ttt)
