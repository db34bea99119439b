"""What every model shares: the data it is built for, its outputs, and carry helpers.

A model maps (carry, batch) -> (carry, outputs); one call is one supervision segment. The
carry is a small dataclass of tensors whose first dimension is the batch; the engine resets
the rows of halted examples and detaches the carry between optimizer steps.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

BOOL_FOR_NUMBER = "bool_for_number"  # the error type; its ctx["field"] names the key


class FrozenConfig(BaseModel):
    """Base for typed configs: frozen, and unknown keys are an error. Numbers are numbers:
    every float refuses inf and nan (train.lr=.inf would skip every step), and every int or
    float refuses true/false (pydantic would read `seed: true` as 1)."""

    # use_attribute_docstrings: the string under a field is its description, the one text
    # that `ponder config keys` (ponder.config_reference) shows for that key.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True
    )

    # A model validator, not a field one: pydantic allows no "before" field validator on a
    # union's discriminator (`name`). error_location() puts the key back into the location.
    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, raw: Any) -> Any:
        for key, value in raw.items() if isinstance(raw, dict) else ():
            field = cls.model_fields.get(key)
            if field is not None and _bool_for_number(field.annotation, value):
                raise PydanticCustomError(
                    BOOL_FOR_NUMBER, "must be a number, not true or false", {"field": key}
                )
        return raw


def error_location(error: dict[str, Any]) -> tuple[Any, ...]:
    """The location of one pydantic error, with the key FrozenConfig's bool check names."""
    if error["type"] == BOOL_FOR_NUMBER:
        return (*error["loc"], error["ctx"]["field"])
    return tuple(error["loc"])


def _bool_for_number(annotation: Any, value: Any) -> bool:
    """Whether `value` holds a bool where `annotation` asks for an int or a float (in a
    list, tuple or dict of them too)."""
    if typing.get_origin(annotation) is typing.Annotated:  # e.g. Annotated[int, Field(ge=0)]
        annotation = typing.get_args(annotation)[0]
    if isinstance(value, bool):
        return _is_number_type(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple) and isinstance(value, list | tuple) and args:
        kinds = [a for a in args if a is not Ellipsis]
        return any(_bool_for_number(kinds[min(i, len(kinds) - 1)], v) for i, v in enumerate(value))
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return any(
            _bool_for_number(args[0], k) or _bool_for_number(args[1], v) for k, v in value.items()
        )
    return False


def _is_number_type(annotation: Any) -> bool:
    """int, float, or a union of them with None."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return all(a in (int, float, type(None)) for a in args) and not all(
            a is type(None) for a in args
        )
    return False


class DemoEncoderConfig(FrozenConfig):
    """Used by TRM, HRM, the transformer and PoH (ponder.models.conditioning) in place of
    their puzzle-embedding table; its lr and warmup_steps by the engine's optimizer.

    A demonstration encoder reads a task's demonstration pairs and fills the
    puzzle_emb_len prefix tokens from them."""

    kind: Literal["standard", "attention", "lpn", "lpn_variational", "oracle"] = "standard"
    """The encoder (ponder.models.conditioning): standard (mean pooling), attention
    (learned-query pooling), lpn (a set transformer over the pairs), lpn_variational (lpn
    with a sampled Gaussian latent), oracle (a fixed random code per puzzle, a diagnostic)."""
    hidden_size: int = Field(64, gt=0)
    """Width of the encoder's own transformer."""
    num_heads: int = Field(4, gt=0)
    """Attention heads of the encoder; hidden_size / num_heads must be a multiple of 4
    (2D RoPE)."""
    num_layers: int = Field(2, ge=0)
    """Per-pair transformer depth (LPN kinds: use 4)."""
    set_layers: int = Field(1, ge=0)
    """Layers of the LPN set transformer over the pairs."""
    expansion: float = Field(4.0, gt=0)
    """SwiGLU width factor of the encoder's blocks."""
    ffn_multiple_of: int = Field(16, gt=0)
    """The SwiGLU inner width is rounded up to a multiple of this."""
    latent_dim: int = Field(0, ge=0)
    """Size of the task latent (0: hidden_size)."""
    num_demos: int = Field(0, ge=0)
    """Demos encoded per example (0: every valid demo; n: the first n valid slots per row)."""
    freeze: bool = False
    """Encoder weights never train (E_diag1, a frozen random encoder). The prefix projection
    stays trainable so the model can still learn to read the frozen features."""
    kl_weight: float = Field(1e-4, ge=0)
    """Weight of the KL term in the loss (lpn_variational only)."""
    lr: float | None = Field(None, gt=0)
    """The encoder's own peak learning rate (null: train.lr)."""
    warmup_steps: int | None = Field(None, ge=0)
    """The encoder's own warmup steps (null: train.warmup_steps)."""

    @model_validator(mode="after")
    def _heads_fit_2d_rope(self) -> DemoEncoderConfig:
        # 2D RoPE rotates half of each head's channels by row, half by column, in pairs.
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 4:
            raise ValueError("hidden_size / num_heads must be a whole multiple of 4")
        return self


class DemoMemoryConfig(FrozenConfig):
    """Used by TRM (ponder.models.demo_memory): the query's cells attend to the cells of the
    demonstration pairs, inside every block of the recursion, rather than reading the task
    from one pooled vector.

    The memory holds one token per cell of each usable demonstration pair (the input
    cell's colour and the output cell's colour embedded together, 2D rotary positions of
    the cell), plus a learned "nothing" token; it has no pair index, so the order of the
    pairs cannot matter, and unusable slots are masked out."""

    num_heads: int = Field(4, gt=0)
    """Cross-attention heads; model.hidden_size / num_heads must be a multiple of 4 (2D RoPE)."""
    num_layers: int = Field(0, ge=0)
    """Self-attention blocks over each pair's cells before they are attended to (0: the
    cells' embeddings as they are)."""


class TrunkConfig(FrozenConfig):
    """Used by the attention models TRM, HRM, the transformer and PoH (ponder.models.trunk):
    the keys they share, the shape of their block stack."""

    hidden_size: int = Field(512, gt=0)
    """Width D of every token's state."""
    num_heads: int = Field(8, gt=0)
    """Attention heads per block, splitting hidden_size; hidden_size / num_heads must be
    even for rope, a multiple of 4 for rope2d (unused with mixer conv)."""
    num_layers: int = Field(2, gt=0)
    """Blocks in the stack (HRM sizes its two modules with H_layers and L_layers instead)."""
    expansion: float = Field(4.0, gt=0)
    """SwiGLU inner = 2/3 * expansion * hidden, rounded up."""
    ffn_multiple_of: int = Field(256, gt=0)
    """The SwiGLU inner width is rounded up to a multiple of this."""
    pos_encoding: Literal["rope", "rope2d", "learned", "none"] = "rope"
    """Token positions: 1D rotary, 2D rotary over (row, column) cells, a learned table, or
    none."""
    attn_window: int = Field(0, ge=0)
    """0: global attention; r: 2D window of radius r."""
    mixer: Literal["attention", "conv", "mlp"] = "attention"
    """Token mixer of each block: self-attention (the papers), a dense 3x3 convolution over
    the grid (a locality prior that makes a recursive model a learned cellular automaton), or
    TRM's MLP over the sequence axis (its best Sudoku model; tied to one sequence length)."""
    mlp_mixer_norm: Literal["hidden", "sequence"] = "hidden"
    """With mixer mlp, the axis of the RMSNorm after the mixer's residual: hidden (each
    position over its channels, as after attention) or sequence (each channel over the
    positions, as the official TRM code's mlp_t does; set when importing its checkpoints)."""
    official_sum_order: bool = False
    """HRM/TRM: inject the input as z + (y + x), the official code's order of the fp32 sums
    (set when importing an official checkpoint: the forward then agrees bit for bit); false:
    (z + y) + x, the order every ponder figure before part 14 was measured with. The two
    differ only in rounding, which over a training run is a different draw."""
    q_pool: Literal["first", "mean"] = "first"
    """Where q_halt reads the state (papers: first)."""
    halt_bias_init: float = -5.0
    """Initial bias of the halting head: negative, so early training does not halt at once."""
    q_continue: bool = False
    """A q_continue output too (HRM; train.halting=hrm turns it on)."""
    puzzle_emb_len: int = Field(0, ge=0)
    """Puzzle embedding: a learned vector per puzzle identifier, prepended as this many
    tokens (0: none; HRM 1, TRM 16)."""
    puzzle_emb_dim: int = Field(0, ge=0)
    """Size of each puzzle's vector, zero-padded to puzzle_emb_len tokens (0: hidden_size)."""
    grid_encoder: bool = False
    """A small CNN's pooled view of the grid added to every token."""
    demo_encoder: DemoEncoderConfig | None = None
    """Few-shot tasks: encode the demonstration pairs into the puzzle_emb_len prefix tokens
    instead of looking up a per-puzzle vector (null: the table, when puzzle_emb_len > 0)."""

    @model_validator(mode="after")
    def _conv_has_no_prefix(self) -> TrunkConfig:
        if self.mixer == "conv" and self.puzzle_emb_len > 0:
            raise ValueError(
                "mixer 'conv' mixes grid cells only; puzzle_emb_len needs mixer 'attention'"
            )
        if self.mlp_mixer_norm == "sequence" and self.mixer != "mlp":
            raise ValueError("mlp_mixer_norm 'sequence' needs mixer 'mlp'")
        if self.demo_encoder is not None and self.puzzle_emb_len == 0:
            raise ValueError("demo_encoder needs puzzle_emb_len > 0 prefix tokens to fill")
        if self.puzzle_emb_dim > self.puzzle_emb_len * self.hidden_size:
            raise ValueError("puzzle_emb_dim must be at most puzzle_emb_len * hidden_size")
        return self


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its dataset (read from dataset.json)."""

    vocab_size: int
    seq_len: int
    grid_shape: tuple[int, int] | None = None
    num_puzzle_identifiers: int = 1
    # The answer head the objective asks for (ponder.objectives): 0 reads tokens of the
    # answer grid (B, L, V); K > 0 next-cell pointers for K horizons (B, K, L, L).
    pointer_horizons: int = 0


@dataclass
class ModelOutputs:
    logits: torch.Tensor  # (B, L, V); with a path head (B, K, L, L) next-cell pointers
    q_halt: torch.Tensor  # (B,) halting logit: "the answer is right now"
    q_continue: torch.Tensor | None = None  # (B,) where the model has a continue head
    stats: dict[str, torch.Tensor] | None = None  # model statistics, e.g. PoH route_entropy (R,)
    # The model's own loss terms, already weighted, as scalars: the engine adds each to the
    # objective's loss and logs it under its name (PoH's routing entropy, an LPN's KL).
    aux_losses: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


def carry_where(mask: torch.Tensor, fresh, old):
    """Rows where mask (B,) is true come from `fresh`, the others from `old`."""
    values = {}
    for field in dataclasses.fields(old):
        a, b = getattr(fresh, field.name), getattr(old, field.name)
        m = mask.view(-1, *([1] * (b.dim() - 1)))
        values[field.name] = torch.where(m, a, b)
    return type(old)(**values)


def carry_detach(carry):
    return type(carry)(
        **{f.name: getattr(carry, f.name).detach() for f in dataclasses.fields(carry)}
    )


def carry_to_tensors(carry, prefix: str = "carry.") -> dict[str, torch.Tensor]:
    return {prefix + f.name: getattr(carry, f.name) for f in dataclasses.fields(carry)}


def carry_from_tensors(carry, tensors: dict[str, torch.Tensor], prefix: str = "carry."):
    """Fill a carry of the same type as `carry` from saved tensors (same device as carry)."""
    values = {}
    for f in dataclasses.fields(carry):
        ref = getattr(carry, f.name)
        values[f.name] = tensors[prefix + f.name].to(device=ref.device, dtype=ref.dtype)
    return type(carry)(**values)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
