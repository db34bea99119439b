"""The run config's `train` section (optimizer, schedule, loss weights, halting, logging,
checkpoints) and its sub-sections: early stopping, fail-fast rules and the curriculum.

They live in the config room, not in ponder.train: the engine reads the whole run config
(ponder.config.RunConfig), so its section sits below the engine with the config that
composes it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ponder.limits import MAX_RECURSION
from ponder.models.base import FrozenConfig
from ponder.models.halting import HaltRule


class EarlyStopConfig(FrozenConfig):
    """Used by the engine's stopping rules (ponder.train.stopping).

    Stop when `metric` (an eval metric) has not improved by min_delta for `patience`
    evaluations in a row; patience 0 turns it off."""

    metric: str = "exact"
    """The eval metric watched (an evaluation without it does not count)."""
    mode: Literal["max", "min"] = "max"
    """Whether higher or lower is better: min for losses (e.g. val_loss)."""
    patience: int = Field(0, ge=0)
    """Evaluations in a row without improvement before the run stops (0: off)."""
    min_delta: float = Field(0.0, ge=0)
    """The least change that counts as an improvement."""


class FailFastRule(FrozenConfig):
    """Used by the engine's stopping rules (ponder.train.stopping).

    Stop the run if `metric` is below `below` at the first evaluation at or after `step`
    (for example: exact < 0.2 at half the budget)."""

    step: int = Field(gt=0)
    """The rule is judged at the first evaluation at or after this step."""
    metric: str = "exact"
    """The eval metric judged."""
    below: float
    """The run stops if the metric is below this."""


class CurriculumConfig(FrozenConfig):
    """Used by the engine's curriculum (ponder.train.curriculum); off when datasets is empty.

    Easier datasets trained before data.path. Stage i < len(datasets) trains on datasets[i];
    the last stage is data.path, the one evaluated. Every stage must have data.path's
    vocab_size, seq_len and grid shape (for routing: build the small cities with --canvas).
    Exactly one rule moves to the next stage: at_steps or threshold.
    """

    datasets: list[str] = []
    """Dataset directories of the stages before data.path, easiest first."""
    at_steps: list[int] | None = None
    """Stage i + 1 starts at step at_steps[i] (one strictly increasing step per dataset)."""
    threshold: float | None = Field(None, gt=0, le=1)
    """Move on when exact on a sample of the current stage's test split
    (train.eval_examples) reaches this at a periodic eval (needs train.eval_every > 0)."""

    @model_validator(mode="after")
    def _one_rule(self) -> CurriculumConfig:
        rules = [name for name in ("at_steps", "threshold") if getattr(self, name) is not None]
        if not self.datasets:
            if rules:
                raise ValueError(f"{rules[0]} is set but datasets is empty")
            return self
        if len(rules) != 1:
            raise ValueError("set exactly one of at_steps or threshold")
        steps = self.at_steps
        if steps is not None:
            if len(steps) != len(self.datasets):
                raise ValueError(
                    f"at_steps needs one step per dataset ({len(self.datasets)}), got {steps}"
                )
            if steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
                raise ValueError(f"at_steps must be strictly increasing and >= 1, got {steps}")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.datasets)


class TrainConfig(FrozenConfig):
    """Used by the engine (ponder.train): optimizer, schedule, loss weights, halting,
    logging, checkpoints and stopping."""

    steps: int = Field(1000, gt=0)
    """Optimizer steps (one per supervision segment)."""
    global_batch_size: int = Field(64, gt=0)
    """Examples per step, split across DDP ranks."""
    lr: float = Field(1e-4, gt=0)
    """Peak learning rate, reached after warmup_steps."""
    lr_min_ratio: float = Field(0.1, ge=0, le=1)
    """Cosine decays to lr * this."""
    warmup_steps: int = Field(0, ge=0)
    """Steps of linear warmup to lr."""
    schedule: Literal["cosine", "constant", "cosine_restarts", "cosine_official"] = "cosine"
    """Learning rate after warmup (ponder.train.optim): cosine decay over the run,
    constant, cosine with warm restarts, or cosine_official: the official HRM/TRM
    pretrain.py's cosine, one step ahead of cosine after the warmup (its n-th step, from 1,
    reads the rate at n; set when importing an official checkpoint)."""
    restart_every: int = Field(1000, gt=0)
    """Cycle length of cosine_restarts, in steps."""
    restart_mult: float = Field(1.0, ge=1)
    """Each cycle this many times longer than the last (T_mult)."""
    optimizer: Literal["adamw", "adam_atan2", "adam"] = "adamw"
    """adamw: decoupled weight decay; adam: torch Adam (L2 weight decay, the sequence-model
    scripts' choice); adam_atan2: Adam-atan2 (the TRM recipe)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """Adam's (beta1, beta2), each in [0, 1), for the puzzle-embedding optimizer too."""
    weight_decay: float = Field(0.1, ge=0)
    """Weight decay of the weight matrices."""
    vector_weight_decay: float | None = Field(None, ge=0)
    """Weight decay of biases and other vectors (null: weight_decay, as the papers)."""
    puzzle_emb_optimizer: Literal["signsgd", "adamw"] = "signsgd"
    """The puzzle-embedding table's own optimizer (ponder.train.sparse_emb): signsgd
    (HRM/TRM) or a lazy AdamW; only the rows a batch used are updated."""
    puzzle_emb_lr: float = Field(1e-2, gt=0)
    """Peak learning rate of the puzzle-embedding table (same warmup and decay as lr)."""
    puzzle_emb_weight_decay: float = Field(0.1, ge=0)
    """Weight decay of the puzzle-embedding table."""
    grad_clip: float = Field(1.0, ge=0)
    """Gradient norm clipping threshold; 0 disables clipping."""
    loss: Literal["softmax", "stablemax"] = "softmax"
    """Token cross-entropy over softmax, or stablemax (HRM/TRM); grid and fewshot
    objectives."""
    label_change_weight: float = Field(1.0, gt=0)
    """Weight of cells whose label differs from the input token (the path of a maze, the
    blanks of a Sudoku) in the per-sequence mean loss; 1 weighs every cell alike."""
    halt_loss_weight: float = Field(0.5, ge=0)
    """Weight of the halting heads' loss (q_halt, and q_continue for hrm)."""
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    """Label smoothing of the cross-entropy, grid tokens and path pointers alike."""
    keep_top_k: int = Field(0, ge=0)
    """Keep the k checkpoints with the lowest eval val_loss (checkpoints/val-*.safetensors)
    besides last and best; 0: off. Few-shot evaluations report val_loss."""
    N_sup: int = Field(16, gt=0, le=MAX_RECURSION)
    """Max supervision segments per example (paper N_sup)."""
    halting: HaltRule = "trm"
    """ACT halting rule (ponder.models.halting): "none" runs all N_sup segments; "trm" halts
    when q_halt > 0; "hrm" when q_halt > q_continue (Q-learning, one extra forward a step).
    YAML false/off mean "none", true means "trm"."""
    halt_min_steps: int = Field(1, gt=0)
    """Never halt before this many segments."""
    halt_exploration_prob: float = Field(0.1, ge=0, le=1)
    """Probability that an example draws a random minimum of segments in [2, N_sup]
    (HRM/TRM exploration)."""
    random_depth: bool = False
    """Each fresh example gets a number of segments drawn from 1..N_sup (training for
    extrapolation: the answer must be good at every depth, not only at N_sup)."""
    progressive_segments: int = Field(0, ge=0, le=1024)
    """DeepThinking's progressive loss in segment form: each fresh example first runs
    k ~ U{0..this} segments without gradient or loss (0: off), so the model learns to go on
    from states it reached itself."""
    progressive_alpha: float | None = Field(None, ge=0, le=1)
    """DeepThinking's progressive loss as published (ponder.train.progressive): every step
    starts each row afresh and backpropagates through all N_sup segments; the loss is
    (1 - alpha) x the answer's loss after N_sup segments + alpha x its loss after k segments
    run on from a state that n segments reached without gradient (n ~ U{0..N_sup-1},
    k ~ U{1..N_sup-n}, per batch). null: off (deep supervision, one step per segment)."""
    progressive_depth: int | None = Field(None, gt=0, le=4096)
    """With progressive_alpha: the deepest state the progressive branch starts from and
    ends at (n ~ U{0..this-1} segments without gradient, k ~ U{1..min(N_sup, this-n)});
    null: N_sup, as published. Deeper trains what the model does past its training depth."""
    stability_weight: float = Field(0.0, ge=0)
    """With progressive_alpha > 0: weight of a stability term, the state's relative change
    over one more segment after the progressive branch, on rows whose answer is exact
    (pushes a solved puzzle to a fixed point); 0: off."""
    official_metrics: bool = False
    """Grid objective: also log the official HRM/TRM loss head's two training metrics that
    ponder does not report, `accuracy` (the mean over halted rows of each row's share of
    right cells) and `q_halt_accuracy` (halted rows where q_halt >= 0 agrees with "the whole
    answer is right", hits on rows that rightly did not halt included); set on import."""
    ema: bool = False
    """Keep an exponential moving average of the weights; evaluation uses it and
    checkpoints hold it."""
    ema_rate: float = Field(0.999, gt=0, lt=1)
    """Decay of the weight average per step."""
    max_nonfinite_steps: int = Field(10, ge=0)
    """A step whose loss is NaN or infinite is skipped (no update) and counted; the run stops
    with a clear message once more than this many were skipped."""
    log_every: int = Field(10, gt=0)
    """Steps between progress lines and metric logs."""
    eval_every: int = Field(0, ge=0)
    """Steps between periodic evaluations; 0: evaluate only at the end."""
    eval_examples: int = Field(256, ge=0)
    """Test examples for periodic evals (0: all)."""
    checkpoint_every: int = Field(200, ge=0)
    """Steps between checkpoints; 0: only at the end."""
    early_stop: EarlyStopConfig = EarlyStopConfig()
    """Early stopping on an eval metric (train.early_stop below)."""
    fail_fast: list[FailFastRule] = []
    """Rules that stop a run going nowhere (train.fail_fast[] below)."""
    curriculum: CurriculumConfig = CurriculumConfig()
    """Easier datasets trained first (train.curriculum below)."""

    @model_validator(mode="after")
    def _curriculum_fits_the_run(self) -> TrainConfig:
        cur = self.curriculum
        if cur.at_steps and cur.at_steps[-1] >= self.steps:
            raise ValueError(
                f"curriculum.at_steps {cur.at_steps} must all be below steps ({self.steps})"
            )
        if cur.threshold is not None and self.eval_every == 0:
            raise ValueError("curriculum.threshold needs eval_every > 0 to measure accuracy")
        return self

    @model_validator(mode="after")
    def _progressive_trains_whole_episodes(self) -> TrainConfig:
        """The progressive loss runs every row for N_sup segments from a fresh start, so the
        per-segment depth rules have nothing to act on."""
        if self.stability_weight > 0 and not self.progressive_alpha:
            raise ValueError("stability_weight needs progressive_alpha above 0")
        if self.progressive_alpha is None:
            if self.progressive_depth is not None:
                raise ValueError("progressive_depth needs progressive_alpha")
            return self
        if self.progressive_depth is not None and self.progressive_depth < self.N_sup:
            raise ValueError(
                f"progressive_depth ({self.progressive_depth}) must be at least N_sup ({self.N_sup})"
            )
        clash = [k for k in ("random_depth", "progressive_segments") if getattr(self, k)]
        if self.halting == "hrm":
            clash.append("halting: hrm")
        if clash:
            raise ValueError(f"progressive_alpha cannot be combined with {', '.join(clash)}")
        return self

    @field_validator("betas")
    @classmethod
    def _betas_torch_takes(cls, betas: tuple[float, float]) -> tuple[float, float]:
        """torch.optim refuses a beta outside [0, 1), at the first step; refuse it here."""
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError("each beta must be in [0, 1)")
        return betas

    @field_validator("halting", mode="before")
    @classmethod
    def _halting_from_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML reads `off` and `no` as false
            return "trm" if value else "none"
        return value
