"""Helpers for tests: tiny configs that train in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

from ponder.config import config_from_dict


def tiny_config(data_dir: Path, run_dir: Path, **sections) -> object:
    """A TRM small enough to take a training step in milliseconds."""
    raw = {
        "name": "tiny",
        "run_dir": str(run_dir),
        "device": "cpu",
        "precision": "fp32",
        "data": {"path": str(data_dir)},
        "model": {
            "name": "trm",
            "hidden_size": 32,
            "num_heads": 2,
            "ffn_multiple_of": 16,
            "n": 2,
            "T": 2,
            "pos_encoding": "rope2d",
        },
        "train": {
            "steps": 6,
            "global_batch_size": 8,
            "lr": 1e-3,
            "N_sup": 2,
            "log_every": 2,
            "checkpoint_every": 3,
            "eval_examples": 8,
        },
        "eval": {"batch_size": 8, "samples_png": 2},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return config_from_dict(raw)
