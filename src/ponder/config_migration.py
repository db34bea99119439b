"""Config keys that moved to the section of who uses them (part 7), read under their new
names so that presets and saved runs written before still load.

A moved key holding its old default is dropped (a saved run lists every key, and most of
them moved to sections its run does not use); any other value is moved to its new key,
where the new section validates it as usual (so `train.route_entropy_weight: 0.1` on a TRM
is refused as an unknown key `model.route_entropy_weight`, naming where it went).
"""

from __future__ import annotations

from typing import Any

_ABSENT = object()

# old dotted key: (new dotted key, the old default)
MOVED_KEYS: dict[str, tuple[str, Any]] = {
    "train.validity_mask": ("path.validity_mask", False),
    "eval.constrained_decoding": ("path.constrained_decoding", False),
    "model.path_horizons": ("path.horizons", 1),
    "train.mlm_u": ("grid.mlm_u", False),
    "train.class_weights": ("grid.class_weights", {}),
    "train.route_token": ("grid.route_token", None),
    "train.route_sparsity_weight": ("grid.route_sparsity_weight", 0.0),
    "train.connectivity_weight": ("grid.connectivity_weight", 0.0),
    "train.max_route_mass": ("grid.max_route_mass", None),
    "train.collapse_threshold": ("fewshot.collapse_threshold", 0.05),
    "eval.latent_search_steps": ("fewshot.latent_search_steps", 0),
    "eval.latent_search_lr": ("fewshot.latent_search_lr", 0.1),
    "train.encoder_lr": ("model.demo_encoder.lr", None),
    "train.encoder_warmup_steps": ("model.demo_encoder.warmup_steps", None),
    "train.route_entropy_weight": ("model.route_entropy_weight", 0.0),
    "train.route_entropy_anneal": ("model.route_entropy_anneal", False),
    "model.maze_encoder": ("model.grid_encoder", False),
}


def migrate_moved_keys(raw: dict[str, Any]) -> list[str]:
    """Move every moved key of `raw` (in place) to its new name; returns a note per key
    that held a value worth moving. `model.head: path` becomes `objective: path`."""
    notes = []
    for old, (new, default) in MOVED_KEYS.items():
        value = _pop(raw, old)
        if value is _ABSENT or value == default:
            continue
        if new.startswith("model.demo_encoder.") and not _has_encoder(raw):
            notes.append(f"config key '{old}' had no effect without model.demo_encoder; dropped")
            continue
        _put(raw, new, value)
        notes.append(f"config key '{old}' is now '{new}'; read as such")
    head = _pop(raw, "model.head")
    if head not in (_ABSENT, "grid"):
        _put(raw, "objective", head)
        notes.append(f"config key 'model.head: {head}' is now 'objective: {head}'; read as such")
    return notes


def _has_encoder(raw: dict[str, Any]) -> bool:
    model = raw.get("model")
    return isinstance(model, dict) and isinstance(model.get("demo_encoder"), dict)


def _pop(raw: dict[str, Any], dotted: str) -> Any:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return _ABSENT
    return node.pop(leaf, _ABSENT)


def _put(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value
