"""RunConfig: the top-level keys of a run, composing every section from its owner (data,
model, train, eval and the objectives' grid, path and fewshot), and the rules that span
sections (model sizes in range, heads that split the width, HRM's continue head)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ponder.config.train import TrainConfig
from ponder.data.config import DataConfig
from ponder.eval.config import EvalConfig
from ponder.fileio import run_dir_problem, run_name_problem
from ponder.limits import MAX_EXPANSION, MAX_MODEL_INT, MAX_RECURSION, RECURSION_KEYS, SEED_MAX
from ponder.models import SEQUENCE_MODELS, ModelConfig
from ponder.models.base import FrozenConfig
from ponder.models.trm import TRMConfig
from ponder.objectives import FewShotConfig, GridConfig, PathConfig


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
    flush_denormal: bool = False
    """CPU: treat subnormal floats (below 1.2e-38) as zero (the FTZ/DAZ modes), set before
    the first parallel op so that every compute thread inherits it. Weights or gradients
    that decay into that range take a slow path on x86: a DeepThinking step ran 2.3x slower
    without it once training had gone on (part 12). Changes no figure measured otherwise."""
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
    if getattr(model, "mixer", None) != "attention":
        return False, 0  # a grid convolution: num_heads is unused
    return True, {"rope": 2, "rope2d": 4}.get(model.pos_encoding, 0)
