"""Model registry: a config's `name` picks the class; variants are config flags."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, ModelOutputs, count_parameters
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
    | SeqChampionConfig,
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
}
# Models that read a few-shot batch's demonstrations (and so need a few-shot dataset).
SEQUENCE_MODELS = ("seq_decoder", "seq_encdec", "seq_champion")


def build_model(config, spec: DataSpec) -> nn.Module:
    return _MODELS[config.name](config, spec)


__all__ = [
    "SEQUENCE_MODELS",
    "DataSpec",
    "ModelConfig",
    "ModelOutputs",
    "build_model",
    "count_parameters",
]
