"""Typed run configs: YAML presets plus dotted `key=value` overrides, validated once.

Unknown keys are an error that names the nearest valid keys; a wrong type or an out-of-range
value is an error that names the key. Every error is a UserError (one line, exit 2).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ponder.config_migration import migrate_moved_keys
from ponder.errors import UserError
from ponder.fileio import read_yaml_file, run_dir_problem, run_name_problem
from ponder.models import SEQUENCE_MODELS, ModelConfig
from ponder.models.base import (
    BOOL_FOR_NUMBER,
    DemoEncoderConfig,
    DemoMemoryConfig,
    FrozenConfig,
    error_location,
)
from ponder.models.halting import HaltRule
from ponder.models.hrm import HRMConfig
from ponder.models.poh import PoHConfig
from ponder.models.seq_champion import SeqChampionConfig
from ponder.models.seq_decoder import SeqDecoderConfig
from ponder.models.seq_encdec import SeqEncDecConfig
from ponder.models.transformer import TransformerConfig
from ponder.models.trm import TRMConfig
from ponder.objectives import FewShotConfig, GridConfig, PathConfig

# torch, numpy and python seed from any integer in 0..2**32-1 (numpy refuses negative ones,
# torch ones past 2**64); DDP ranks seed with seed + rank, which stays inside torch's range.
SEED_MAX = 2**32 - 1
# Every integer size or count of a model (widths, heads, layers, cycles, prefix tokens) is at
# most this: far above anything that trains on one machine, and low enough that building
# the model on the meta device to estimate its memory can never overflow a tensor size.
MAX_MODEL_INT = 2**20
MAX_EXPANSION = 1024.0  # the SwiGLU width factor (papers: 4)
# Recursion counts and supervision segments (T, n, H_cycles, L_cycles, R, N_sup) are at most
# this: each is a loop run every step, and the papers use 16 at most.
MAX_RECURSION = 1024
RECURSION_KEYS = ("T", "n", "H_cycles", "L_cycles", "R", "controller_T")


class DataConfig(FrozenConfig):
    """Used by the dataset loader (ponder.runs.open_run_data): which dataset a run reads,
    and what its recipe expects of it."""

    path: str = "data/maze_quick"
    """Dataset directory (HRM/TRM layout)."""
    task: str | None = None
    """The dataset's task (maze, routing, ...); taken from the dataset's ponder.json when
    not set (an HRM/TRM-built dataset has none, so name it here)."""
    vocab_size: int | None = Field(None, gt=0)
    """The vocabulary size the recipe expects (null: whatever the dataset has). A dataset
    that differs is refused with both values named, before any model is built."""
    seq_len: int | None = Field(None, gt=0)
    """The tokens per example the recipe expects (null: whatever the dataset has); checked
    as vocab_size is."""
    num_puzzle_identifiers: int | None = Field(None, gt=0)
    """The puzzle identifiers the recipe expects (null: whatever the dataset has); checked
    as vocab_size is."""
    fresh_tasks: bool = False
    """Generated skills datasets only: train on a new task instance in every batch row,
    drawn from the generators of the dataset's trained skills (ponder.data.fresh_skills), in
    place of its fixed training tasks. Deterministic by (seed, step); never a held-out skill
    nor a test-split instance. Refused with a puzzle table (puzzle_emb_len without a
    demo_encoder, or the oracle encoder) and with a curriculum."""


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
    schedule: Literal["cosine", "constant", "cosine_restarts"] = "cosine"
    """Learning rate after warmup (ponder.train.optim): cosine decay over the run,
    constant, or cosine with warm restarts."""
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


class EvalConfig(FrozenConfig):
    """Used by evaluation (the objectives' judging, ponder.eval), during and after training."""

    batch_size: int = Field(256, gt=0)
    """Examples per evaluation batch."""
    samples_png: int = Field(6, ge=0)
    """Mazes drawn in eval/samples.png (failures first); few-shot: tasks drawn as PNGs."""


class RunConfig(FrozenConfig):
    """Used by the launcher and every command that opens a run (ponder.train.launch,
    ponder.runs): where the run lives, its seed, device, precision and objective.

    The top-level keys; each section below is a key of this one."""

    name: str = "run"
    """The run directory is runs/<name> unless run_dir is set."""
    run_dir: str | None = None
    """The run directory, in place of runs/<name>."""
    seed: int = Field(0, ge=0, le=SEED_MAX)
    """Seeds torch and python (each DDP rank seed + rank)."""
    deterministic: bool = False
    """Deterministic kernels (resume continues bit-identically)."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """auto: CUDA, then MPS, then the CPU; an explicit choice must be available."""
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Compute dtype (bf16/fp16 by autocast). auto: on a CPU with native bf16, the faster of
    fp32 and bf16 for this model, measured at startup (printed, cached per machine and model
    shape, kept on resume); bf16 on a GPU that supports it; else fp32. No fp16 on the CPU;
    bf16 on a GPU without it is refused."""
    compile: bool = False
    """torch.compile the recursion blocks (ponder.train.compiling); where the compiler is
    missing or fails, a warning and the eager model. Costs 10-60 s of compiling at startup."""
    objective: Literal["auto", "grid", "path", "fewshot"] = "auto"
    """The answer formulation (ponder.objectives): "grid" tokens, "path" pointers along a
    maze's route, "fewshot" tasks; "auto" takes fewshot for a few-shot dataset, else grid.
    Each has a section of its own below, used only by it."""
    data: DataConfig = DataConfig()
    """The dataset (section data)."""
    model: ModelConfig = TRMConfig()
    """The model; model.name picks which (section model)."""
    train: TrainConfig = TrainConfig()
    """Training (section train)."""
    eval: EvalConfig = EvalConfig()
    """Evaluation (section eval)."""
    grid: GridConfig = GridConfig()
    """Settings of objective grid (section grid)."""
    path: PathConfig = PathConfig()
    """Settings of objective path (section path)."""
    fewshot: FewShotConfig = FewShotConfig()
    """Settings of objective fewshot (section fewshot)."""

    @field_validator("name", "run_dir")
    @classmethod
    def _run_path_stays_put(cls, value: str | None, info) -> str | None:
        """name is one directory under runs/; neither may point at '.', runs/ or above."""
        check = run_name_problem if info.field_name == "name" else run_dir_problem
        problem = None if value is None else check(value)
        if problem:
            raise PydanticCustomError("run_path", problem)
        return value

    @model_validator(mode="after")
    def _model_sizes_in_range(self) -> RunConfig:
        for key, value in _model_numbers(self.model):
            limit = MAX_EXPANSION if key.endswith("expansion") else MAX_MODEL_INT
            if key.split(".")[-1] in RECURSION_KEYS:
                limit = MAX_RECURSION
            if value > limit:
                raise ValueError(f"model.{key} must be at most {limit}, got {value}")
        return self

    @model_validator(mode="after")
    def _heads_split_the_width(self) -> RunConfig:
        """Attention splits hidden_size into num_heads heads, and rotary positions turn each
        head's channels in pairs (2D: pairs of the row half and the column half)."""
        m = self.model
        attention, rotary_multiple = _attention_shape(m)
        if not attention:
            return self
        if m.hidden_size % m.num_heads:
            raise ValueError(
                f"model.hidden_size {m.hidden_size} must be divisible by "
                f"model.num_heads {m.num_heads}"
            )
        head_dim = m.hidden_size // m.num_heads
        if rotary_multiple and head_dim % rotary_multiple:
            raise ValueError(
                f"model.hidden_size / model.num_heads = {head_dim} must be a multiple of "
                f"{rotary_multiple} for the rotary positions of {m.name}"
            )
        return self

    @model_validator(mode="after")
    def _continue_head_for_q_learning(self) -> RunConfig:
        """HRM's Q-learning rule needs a q_continue head: turn it on (saved in the config)."""
        if self.train.halting == "hrm" and not self.model.q_continue:
            if self.model.name in SEQUENCE_MODELS:  # their q_continue is fixed to false
                raise ValueError(
                    f"train.halting 'hrm' needs a q_continue head; model {self.model.name} "
                    "answers in one segment and has none"
                )
            model = self.model.model_copy(update={"q_continue": True})
            object.__setattr__(self, "model", model)
        return self

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path("runs") / self.name

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _model_numbers(model: BaseModel, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted key, value) of the model's integer sizes and its expansion factors,
    demo_encoder's included."""
    found = []
    for key in type(model).model_fields:
        value = getattr(model, key)
        if isinstance(value, BaseModel):
            found += _model_numbers(value, f"{prefix}{key}.")
        elif (isinstance(value, int) and not isinstance(value, bool)) or key == "expansion":
            found.append((prefix + key, value))
    return found


def _attention_shape(model: BaseModel) -> tuple[bool, int]:
    """(whether the model has self-attention, the multiple its head size must be of for
    its rotary positions; 0 for none)."""
    if model.name in ("seq_decoder", "seq_encdec"):
        return True, 2  # 1D rotary positions
    if model.name == "seq_champion":
        return True, 4  # 2D rotary positions
    if model.mixer != "attention":
        return False, 0  # a grid convolution: num_heads is unused
    return True, {"rope": 2, "rope2d": 4}.get(model.pos_encoding, 0)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """Load a YAML preset (or the defaults when path is None) and apply dotted overrides."""
    raw: dict[str, Any] = {}
    if path is not None and not str(path):  # Path("") would read as the current directory
        raise UserError("the config file path is empty; give a YAML file")
    if path is not None:
        raw = _read_yaml(Path(path))
    for item in overrides:
        key, value = _parse_override(item)
        _set_dotted(raw, key, value)
    _require_sections(raw)
    for note in migrate_moved_keys(raw):  # a preset written before keys moved still loads
        print(f"ponder: note: {note}", file=sys.stderr)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> RunConfig:
    """A RunConfig from a raw mapping (a run's saved config too: keys that moved since it
    was saved are read under their new names)."""
    _require_sections(raw)
    migrate_moved_keys(raw)
    _reject_unknown_keys(raw)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise UserError(_describe_error(err.errors()[0])) from None


def _describe_error(first: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error_location(first) if not _is_union_tag(p))
    message = first["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]  # not all of it: model.T stays model.T
    if not key:  # a rule across keys (RunConfig's validators): the message names them
        return f"config: {message}"
    if first["type"] == BOOL_FOR_NUMBER:  # its input is the whole section
        return f"config key '{key}': {message}"
    return f"config key '{key}': {message} (got {first.get('input')!r})"


def _is_union_tag(part: Any) -> bool:
    return part in _MODEL_CLASSES


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml_file(path, "config file")


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise UserError(f"override '{item}' must look like key=value (for example train.lr=1e-3)")
    key, text = item.split("=", 1)
    try:
        # Blank text stays text (YAML would read `name= ` as null): the key then says
        # what it needs, e.g. "a run name must not be empty".
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"config key '{key}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "grid": GridConfig,
    "path": PathConfig,
    "fewshot": FewShotConfig,
}
_MODEL_CLASSES: dict[str, type[BaseModel]] = {
    "trm": TRMConfig,
    "hrm": HRMConfig,
    "transformer": TransformerConfig,
    "poh": PoHConfig,
    "seq_decoder": SeqDecoderConfig,
    "seq_encdec": SeqEncDecConfig,
    "seq_champion": SeqChampionConfig,
}
_NESTED = {
    "train.early_stop",
    "train.curriculum",
    "model.demo_encoder",
    "model.demo_memory",
}  # sub-sections whose keys are checked one by one


def valid_keys(model_name: str = "trm") -> list[str]:
    """Every dotted key a config may set (model keys depend on the chosen model)."""
    keys = [k for k in RunConfig.model_fields if k not in (*_SECTIONS, "model")]
    for section, cls in _SECTIONS.items():
        keys += [f"{section}.{k}" for k in cls.model_fields]
    keys += [f"train.early_stop.{k}" for k in EarlyStopConfig.model_fields]
    keys += [f"train.curriculum.{k}" for k in CurriculumConfig.model_fields]
    model_cls = _MODEL_CLASSES.get(model_name, TRMConfig)
    keys += [f"model.{k}" for k in model_cls.model_fields]
    if "demo_encoder" in model_cls.model_fields:
        keys += [f"model.demo_encoder.{k}" for k in DemoEncoderConfig.model_fields]
    if "demo_memory" in model_cls.model_fields:
        keys += [f"model.demo_memory.{k}" for k in DemoMemoryConfig.model_fields]
    return keys


def _require_sections(raw: dict[str, Any]) -> None:
    """`model: trm` or `train: 5` is a section written as a value: say so, rather than
    calling a valid key unknown."""
    for section in ("model", *_SECTIONS):
        value = raw.get(section, {})
        if not isinstance(value, dict):
            shown = "null" if value is None else repr(value)
            raise UserError(
                f"config section '{section}' must be a mapping of keys to values, got {shown}"
            )


def _reject_unknown_keys(raw: dict[str, Any]) -> None:
    model_name = str((raw.get("model") or {}).get("name", "trm"))
    if model_name not in _MODEL_CLASSES:
        known = ", ".join(_MODEL_CLASSES)
        raise UserError(f"config key 'model.name': unknown model '{model_name}' (known: {known})")
    known = set(valid_keys(model_name))
    for key in _flatten_keys(raw):
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            raise UserError(f"unknown config key '{key}'{hint}")


def _flatten_keys(raw: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        is_section = (prefix == "" and key in (*_SECTIONS, "model")) or dotted in _NESTED
        if is_section and isinstance(value, dict):
            keys += _flatten_keys(value, dotted + ".")
        else:
            keys.append(dotted)
    return keys


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


# Where a run lives and on what device it runs do not make it a different run.
PLACE_KEYS = ("device", "run_dir", "name")


def config_differences(
    old: dict[str, Any], new: dict[str, Any], *, common_only: bool = False
) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) wherever two config dicts differ, in key order,
    ignoring PLACE_KEYS. A key only one side has shows None on the other; common_only skips
    such keys (a key added to or removed from ponder since `old` was saved)."""
    flat_old, flat_new = _flatten_values(old), _flatten_values(new)
    keys = set(flat_old) & set(flat_new) if common_only else set(flat_old) | set(flat_new)
    return [
        (key, flat_old.get(key), flat_new.get(key))
        for key in sorted(keys)
        if key.split(".")[0] not in PLACE_KEYS
        and (key not in flat_old or key not in flat_new or flat_old[key] != flat_new[key])
    ]


def _flatten_values(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten_values(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
