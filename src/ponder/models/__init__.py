"""Model registry: a config's `name` picks the class; variants are config flags."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, ModelOutputs, count_parameters
from ponder.models.dt import DeepThinking, DTConfig
from ponder.models.hrm import HRM, HRMConfig
from ponder.models.poh import PoH, PoHConfig
from ponder.models.seq_champion import SeqChampion, SeqChampionConfig
from ponder.models.seq_decoder import SeqDecoder, SeqDecoderConfig
from ponder.models.seq_encdec import SeqEncDec, SeqEncDecConfig
from ponder.models.transformer import Transformer, TransformerConfig
from ponder.models.trm import TRM, TRMConfig

ModelConfig = Annotated[
    TRMConfig
    | HRMConfig
    | TransformerConfig
    | PoHConfig
    | SeqDecoderConfig
    | SeqEncDecConfig
    | SeqChampionConfig
    | DTConfig,
    Field(discriminator="name"),
]

_MODELS = {
    "trm": TRM,
    "hrm": HRM,
    "transformer": Transformer,
    "poh": PoH,
    "seq_decoder": SeqDecoder,
    "seq_encdec": SeqEncDec,
    "seq_champion": SeqChampion,
    "dt": DeepThinking,
}
# Models that read a few-shot batch's demonstrations (and so need a few-shot dataset).
SEQUENCE_MODELS = ("seq_decoder", "seq_encdec", "seq_champion")
# Models that answer an input grid with an output grid of tokens and read nothing else: no
# demonstrations (few-shot tasks) and no pointer head (the path objective).
GRID_TOKEN_MODELS = ("dt",)


def build_model(config, spec: DataSpec) -> nn.Module:
    return _MODELS[config.name](config, spec)


def size_bound_reason(config) -> str | None:
    """Why a model's weights tie it to the grid size it was built for, or None when it runs
    on grids of any size (a convolution or 2D-relative attention, nothing absolute)."""
    if config.name in SEQUENCE_MODELS:
        return f"model {config.name} is built for one canvas size"
    if getattr(config, "mixer", None) == "mlp":
        return "its MLP mixer has one weight per position (model.mixer: mlp)"
    reasons = {
        "pos_encoding": {
            "learned": "it has learned absolute positions (model.pos_encoding: learned)",
            "rope": "its 1D rotary positions tie 'the cell below' to the grid's width "
            "(model.pos_encoding: rope; rope2d does not)",
        }.get(config.pos_encoding if getattr(config, "mixer", None) == "attention" else "none"),
        "puzzle_emb_len": "it reads a puzzle-embedding table (model.puzzle_emb_len)",
        "demo_encoder": "its demonstration encoder is built for one canvas (model.demo_encoder)",
        "demo_memory": "its demonstration memory is built for one canvas (model.demo_memory)",
        "grid_encoder": "model.grid_encoder flattens the whole grid into one vector",
    }
    for key, reason in reasons.items():
        if key == "pos_encoding" and reason:
            return reason
        if key != "pos_encoding" and getattr(config, key, None):
            return reasons[key]
    return None


__all__ = [
    "GRID_TOKEN_MODELS",
    "SEQUENCE_MODELS",
    "DataSpec",
    "ModelConfig",
    "ModelOutputs",
    "build_model",
    "count_parameters",
    "size_bound_reason",
]
