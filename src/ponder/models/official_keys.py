"""The official HRM and TRM code's state-dict keys and arch configs, mapped to ponder's.

Official checkpoints (pretrain.py's `torch.save(model.state_dict())`) name a weight
`_orig_mod.model.inner.<name>`: `_orig_mod.` from torch.compile (absent with
DISABLE_COMPILE), `model.` from the loss head wrapping the ACT wrapper, `inner.` from the
ACT wrapper. The ACT wrapper's own state dict starts at `inner.`. Every weight maps to one
ponder weight of the same shape and meaning, so a conversion is a renaming, checked
key by key and shape by shape. `{i}` stands for a layer's index. What each name is:

- the official TRM's carry (z_H, z_L) is ponder's TRM carry (y, z): the answer and the
  latent; its H_init, L_init are ponder's y_init, z_init. Its one net is `L_level`.
- TRM's `mlp_t` (the MLP mixer over the sequence) is ponder's block mixer `attn.mlp`;
  ponder's blocks keep the name `attn` for whichever mixer they have.
- HRM's H_level / L_level are ponder's H / L; H_init, L_init keep their names.
- Official TRM's q head has two outputs even when q_continue is unused (no_ACT_continue),
  so ponder's TRM gets `q_continue: true` too: the weights keep their shape.

Not in a checkpoint on either side: the rotary tables (recomputed), the official sparse
embedding's `local_weights` / `local_ids` (per-batch scratch) and ponder's attention mask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from ponder.errors import UserError
from ponder.models.hrm import HRMConfig
from ponder.models.trm import TRMConfig

# Prefixes an official key may carry before the ACT wrapper's `inner.`, outermost first.
COMPILE_PREFIX = "_orig_mod."
LOSS_HEAD_PREFIX = "model."
CHECKPOINT_PREFIX = COMPILE_PREFIX + LOSS_HEAD_PREFIX  # what pretrain.py's checkpoints hold

# The weights outside the block stacks, the same in HRM and TRM.
_IO_KEYS: tuple[tuple[str, str], ...] = (
    ("inner.embed_tokens.embedding_weight", "embed.tokens.weight"),
    ("inner.embed_pos.embedding_weight", "embed.positions"),
    ("inner.puzzle_emb.weights", "embed.puzzle.weight"),
    ("inner.lm_head.weight", "lm_head.weight"),
    ("inner.q_head.weight", "q_head.proj.weight"),
    ("inner.q_head.bias", "q_head.proj.bias"),
)


def _block_keys(official: str, ponder: str, mlp_t: bool) -> tuple[tuple[str, str], ...]:
    """One block stack's keys: official `<official>.layers.{i}.*`, ponder `<ponder>.blocks.{i}.*`;
    with `mlp_t`, the MLP mixer's too (TRM only: sapientinc/HRM has none)."""
    attention = (
        ("self_attn.qkv_proj.weight", "attn.qkv.weight"),
        ("self_attn.o_proj.weight", "attn.out.weight"),
    )
    mixer = (
        ("mlp_t.gate_up_proj.weight", "attn.mlp.gate_up.weight"),
        ("mlp_t.down_proj.weight", "attn.mlp.down.weight"),
    )
    mlp = (
        ("mlp.gate_up_proj.weight", "mlp.gate_up.weight"),
        ("mlp.down_proj.weight", "mlp.down.weight"),
    )
    pairs = attention + (mixer if mlp_t else ()) + mlp
    return tuple(
        (f"inner.{official}.layers.{{i}}.{a}", f"{ponder}.blocks.{{i}}.{b}") for a, b in pairs
    )


# model name -> (official key, ponder key) pairs, official keys without their prefixes.
KEY_TABLE: dict[str, tuple[tuple[str, str], ...]] = {
    "trm": (
        *_IO_KEYS,
        ("inner.H_init", "y_init"),
        ("inner.L_init", "z_init"),
        *_block_keys("L_level", "net", mlp_t=True),
    ),
    "hrm": (
        *_IO_KEYS,
        ("inner.H_init", "H_init"),
        ("inner.L_init", "L_init"),
        *_block_keys("H_level", "H", mlp_t=False),
        *_block_keys("L_level", "L", mlp_t=False),
    ),
}


def _pattern(key: str) -> re.Pattern[str]:
    return re.compile(re.escape(key).replace(re.escape("{i}"), r"(\d+)") + "$")


def _rename(name: str, table: tuple[tuple[str, str], ...], reverse: bool) -> str | None:
    """`name` through the table (official -> ponder, or back with `reverse`); None if absent."""
    for official, ponder in table:
        source, target = (ponder, official) if reverse else (official, ponder)
        match = _pattern(source).match(name)
        if match:
            return target.replace("{i}", match.group(1)) if match.groups() else target
    return None


def strip_prefix(key: str) -> str:
    """An official key without `_orig_mod.` and the loss head's `model.`: `inner.<name>`."""
    key = key.removeprefix(COMPILE_PREFIX)
    return key if key.startswith("inner.") else key.removeprefix(LOSS_HEAD_PREFIX)


def ponder_key(model_name: str, official_key: str) -> str:
    """ponder's name of an official weight (any prefix); UserError if it has none."""
    name = _rename(strip_prefix(official_key), KEY_TABLE[model_name], reverse=False)
    if name is None:
        raise UserError(f"official {model_name} key {official_key!r} has no ponder counterpart")
    return name


def official_key(model_name: str, key: str, prefix: str = CHECKPOINT_PREFIX) -> str:
    """The official name of a ponder weight, with `prefix` before `inner.` (default: as in
    pretrain.py's checkpoints; "" for the ACT wrapper's own state dict)."""
    name = _rename(key, KEY_TABLE[model_name], reverse=True)
    if name is None:
        raise UserError(f"ponder {model_name} key {key!r} has no official counterpart")
    return prefix + name


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def from_official(
    model: torch.nn.Module, official: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """An official state dict renamed for `model` (a ponder TRM or HRM), ready for
    model.load_state_dict. Refuses, naming the first such key, an official key ponder has
    no place for (an extra key), a ponder weight no official key fills (a missing key),
    and a shape that differs (and two official keys for one weight)."""
    name = model.config.name
    if name not in KEY_TABLE:
        raise UserError(f"ponder model {name!r} has no official counterpart (trm and hrm do)")
    expected = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in official.items():
        target = ponder_key(name, key)
        if target in renamed:
            raise UserError(f"official key {key!r}: a second key for ponder's {target!r}")
        if target not in expected:
            raise UserError(f"official key {key!r} (ponder {target!r}): not in this {name} model")
        if _shape(tensor) != _shape(expected[target]):
            raise UserError(
                f"official key {key!r} has shape {_shape(tensor)}, ponder's {target!r} "
                f"expects {_shape(expected[target])}"
            )
        renamed[target] = tensor
    for target in expected:
        if target not in renamed:
            missing = official_key(name, target, prefix="")
            raise UserError(f"official state dict has no {missing!r} (ponder {target!r})")
    return renamed


def to_official(
    model_name: str, state: Mapping[str, torch.Tensor], prefix: str = CHECKPOINT_PREFIX
) -> dict[str, torch.Tensor]:
    """A ponder TRM or HRM state dict under official names (see official_key's prefix)."""
    return {official_key(model_name, key, prefix): tensor for key, tensor in state.items()}


# --------------------------------------------------------------------------- arch configs

# Official arch keys that are not the model's shape: the class, the loss, the dtype, the
# dataset's sizes (ponder reads those from dataset.json) and the halting keys (ponder's
# train section; official_train_keys maps them).
_NOT_MODEL_KEYS = {
    "name", "loss", "forward_dtype", "batch_size", "seq_len", "vocab_size",
    "num_puzzle_identifiers", "causal", "halt_max_steps", "halt_exploration_prob",
    "no_ACT_continue",
}  # fmt: skip
_SHAPE_KEYS = {
    "hidden_size", "num_heads", "expansion", "pos_encodings", "puzzle_emb_ndim",
    "H_cycles", "L_cycles", "H_layers", "L_layers", "rms_norm_eps", "rope_theta",
}  # fmt: skip
# TRM's repository's copy of HRM has mlp_t too; ponder maps it only when false.
_EXTRA_SHAPE_KEYS = {"trm": {"mlp_t", "puzzle_emb_len"}, "hrm": {"mlp_t"}}
_FIXED = {"rms_norm_eps": 1e-5, "rope_theta": 10000.0}  # ponder's, not configurable


def official_model_name(arch: Mapping[str, Any]) -> str:
    """ "trm" or "hrm" from the arch's `name` (e.g. recursive_reasoning.trm@
    TinyRecursiveReasoningModel_ACTV1, hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1)."""
    cls = str(arch.get("name", "")).rpartition("@")[2]
    names = {"TinyRecursiveReasoningModel_ACTV1": "trm", "HierarchicalReasoningModel_ACTV1": "hrm"}
    if cls not in names:
        raise UserError(f"official arch name {arch.get('name')!r}: not an HRM or TRM ACT model")
    return names[cls]


def _check_arch(arch: Mapping[str, Any], model_name: str) -> None:
    known = _NOT_MODEL_KEYS | _SHAPE_KEYS | _EXTRA_SHAPE_KEYS[model_name]
    unknown = sorted(set(arch) - known)
    if unknown:
        raise UserError(f"official {model_name} arch key {unknown[0]!r}: not known to ponder")
    for key, value in _FIXED.items():
        if float(arch.get(key, value)) != value:
            raise UserError(f"official arch {key} {arch[key]}: ponder's is fixed at {value}")
    if model_name == "hrm" and arch.get("mlp_t", False):
        raise UserError("official hrm arch mlp_t true: ponder maps HRM with attention only")


def _puzzle_keys(arch: Mapping[str, Any], model_name: str) -> dict[str, int]:
    """ponder's puzzle_emb_len and puzzle_emb_dim: HRM's length is ceil(ndim / hidden);
    TRM's is its puzzle_emb_len (default 16) unless that is 0."""
    ndim, hidden = int(arch.get("puzzle_emb_ndim", 0)), int(arch["hidden_size"])
    length = -(-ndim // hidden)
    if model_name == "trm":
        length = int(arch.get("puzzle_emb_len", 16)) or length
    if ndim == 0 and length > 0:
        raise UserError(f"official trm arch: puzzle_emb_len {length} with puzzle_emb_ndim 0")
    return {"puzzle_emb_len": length, "puzzle_emb_dim": ndim}


def _positions(arch: Mapping[str, Any], model_name: str) -> str:
    pos = str(arch["pos_encodings"])
    if pos in ("rope", "learned"):
        return pos
    if model_name == "hrm":  # the official HRM raises NotImplementedError
        raise UserError(f"official hrm arch pos_encodings {pos!r}: HRM has rope or learned")
    return "none"  # the official TRM adds no positions for any other value


def config_from_official(arch: Mapping[str, Any]) -> TRMConfig | HRMConfig:
    """The ponder model config of an official arch config (all_config.yaml's `arch`, or
    the dict pretrain.py builds the model from). Unknown keys and values ponder cannot
    reproduce are refused with one line."""
    model_name = official_model_name(arch)
    _check_arch(arch, model_name)
    shared = dict(
        hidden_size=int(arch["hidden_size"]),
        num_heads=int(arch["num_heads"]),
        expansion=float(arch["expansion"]),
        ffn_multiple_of=256,  # the official SwiGLU rounds up to a multiple of 256
        pos_encoding=_positions(arch, model_name),
        q_continue=True,  # both official q heads have two outputs
        official_sum_order=True,  # z + (y + x), as the official code sums
        **_puzzle_keys(arch, model_name),
    )
    if model_name == "hrm":
        cycles = {k: int(arch[k]) for k in ("H_cycles", "L_cycles", "H_layers", "L_layers")}
        return HRMConfig(**shared, **cycles)
    mlp_t = bool(arch.get("mlp_t", False))
    return TRMConfig(
        **shared,
        num_layers=int(arch["L_layers"]),  # the official TRM ignores H_layers
        n=int(arch["L_cycles"]),
        T=int(arch["H_cycles"]),
        mixer="mlp" if mlp_t else "attention",
        mlp_mixer_norm="sequence" if mlp_t else "hidden",
    )


def official_train_keys(arch: Mapping[str, Any]) -> dict[str, Any]:
    """ponder's train keys for the official halting keys: N_sup, the exploration
    probability, and the rule (HRM and TRM with no_ACT_continue false: q_halt > q_continue,
    "hrm"; TRM's default: q_halt > 0, "trm")."""
    model_name = official_model_name(arch)
    uses_continue = model_name == "hrm" or not arch.get("no_ACT_continue", True)
    return {
        "N_sup": int(arch["halt_max_steps"]),
        "halt_exploration_prob": float(arch["halt_exploration_prob"]),
        "halting": "hrm" if uses_continue else "trm",
    }
