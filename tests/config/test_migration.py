"""Config keys that moved in part 7 are read under their new names: old presets and the
configs saved in old run directories still load; a value that no longer applies is named."""

from __future__ import annotations

import pytest
import yaml

from ponder.config import config_from_dict, load_config
from ponder.config_migration import MOVED_KEYS, migrate_moved_keys
from ponder.errors import UserError


def test_an_old_path_preset_loads_under_the_new_keys(tmp_path, capsys):
    old = {
        "model": {"name": "trm", "hidden_size": 32, "num_heads": 2, "head": "path",
                  "path_horizons": 2, "maze_encoder": True},
        "train": {"validity_mask": True, "label_smoothing": 0.05},
        "eval": {"constrained_decoding": True},
    }  # fmt: skip
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    config = load_config(path)
    assert config.objective == "path" and config.path.horizons == 2
    assert config.path.validity_mask and config.path.constrained_decoding
    assert config.model.grid_encoder and config.train.label_smoothing == 0.05
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == 5 and all(n.startswith("ponder: note: config key") for n in notes)
    assert any("'train.validity_mask' is now 'path.validity_mask'" in n for n in notes)


def test_a_saved_old_run_config_with_every_default_loads_quietly(capsys):
    raw = config_from_dict({}).to_dict()
    for old, (_, default) in MOVED_KEYS.items():  # an old run lists every key at its default
        section, *rest = old.split(".")
        if len(rest) == 1:
            raw.setdefault(section, {})[rest[0]] = default
    raw["model"]["head"] = "grid"
    assert config_from_dict(raw) == config_from_dict({})
    assert capsys.readouterr().err == ""


def test_old_grid_aids_fewshot_and_encoder_keys_move():
    raw = {
        "model": {"name": "trm", "puzzle_emb_len": 2, "demo_encoder": {"hidden_size": 16}},
        "train": {"mlm_u": True, "class_weights": {5: 2.0}, "max_route_mass": 3.0,
                  "encoder_lr": 1e-3, "collapse_threshold": 0.1},
        "eval": {"latent_search_steps": 4},
    }  # fmt: skip
    notes = migrate_moved_keys(raw)
    assert len(notes) == 6
    config = config_from_dict(raw)
    assert config.grid.mlm_u and config.grid.class_weights == {5: 2.0}
    assert config.grid.max_route_mass == 3.0 and config.model.demo_encoder.lr == 1e-3
    assert config.fewshot.collapse_threshold == 0.1 and config.fewshot.latent_search_steps == 4


def test_an_encoder_rate_without_an_encoder_is_dropped_with_a_note():
    raw = {"train": {"encoder_lr": 1e-3}}
    assert migrate_moved_keys(raw) == [
        "config key 'train.encoder_lr' had no effect without model.demo_encoder; dropped"
    ]
    assert config_from_dict(raw).model.demo_encoder is None


def test_a_moved_value_that_no_longer_applies_names_its_new_key():
    with pytest.raises(UserError, match="unknown config key 'model.route_entropy_weight'"):
        config_from_dict({"train": {"route_entropy_weight": 0.1}})  # a TRM has no routing
    poh = config_from_dict(
        {
            "model": {"name": "poh", "hidden_size": 32, "num_heads": 2},
            "train": {"route_entropy_weight": 0.1},
        }  # fmt: skip
    )
    assert poh.model.route_entropy_weight == 0.1


def test_q_learning_halting_is_refused_for_a_one_segment_sequence_model():
    with pytest.raises(UserError, match="halting 'hrm' needs a q_continue head"):
        config_from_dict({"model": {"name": "seq_champion"}, "train": {"halting": "hrm"}})
