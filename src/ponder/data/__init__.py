"""Datasets: the HRM/TRM on-disk format, building, checking, augmenting and batching."""

from ponder.data.augment import canonical_key, dihedral, inverse_dihedral_index
from ponder.data.build import build_dataset
from ponder.data.check import check_dataset, format_summary
from ponder.data.format import (
    DatasetMetadata,
    Split,
    content_hash,
    load_split,
    read_identifiers,
    read_ponder_json,
    write_split,
)
from ponder.data.loader import TrainBatches, eval_batches

__all__ = [
    "DatasetMetadata",
    "Split",
    "TrainBatches",
    "build_dataset",
    "canonical_key",
    "check_dataset",
    "content_hash",
    "dihedral",
    "eval_batches",
    "format_summary",
    "inverse_dihedral_index",
    "load_split",
    "read_identifiers",
    "read_ponder_json",
    "write_split",
]
