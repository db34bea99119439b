import pytest

from ponder.config import config_from_dict, dump_config, load_config
from ponder.errors import UserError


def test_defaults_and_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: trm\n  hidden_size: 64\ntrain:\n  lr: 0.001\n")
    cfg = load_config(path, ["train.lr=3e-3", "model.n=4", "train.betas=[0.9, 0.99]"])
    assert cfg.train.lr == 3e-3 and cfg.model.n == 4 and cfg.model.hidden_size == 64
    assert cfg.train.betas == (0.9, 0.99)


def test_unknown_key_names_the_nearest_keys():
    with pytest.raises(UserError, match=r"unknown config key 'train.lrr'.*train.lr"):
        config_from_dict({"train": {"lrr": 1}})


def test_model_keys_depend_on_the_model():
    with pytest.raises(UserError, match="unknown config key 'model.n'"):
        config_from_dict({"model": {"name": "transformer", "n": 3}})


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"train": {"lr": "fast"}}, "train.lr"),
        ({"train": {"steps": -1}}, "train.steps"),
        ({"model": {"name": "trm", "pos_encoding": "spiral"}}, "model.pos_encoding"),
        ({"model": {"name": "lstm"}}, "unknown model 'lstm'"),
    ],
)
def test_bad_values_name_the_key(raw, words):
    with pytest.raises(UserError, match=words):
        config_from_dict(raw)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="key=value"):
        load_config(None, ["train.lr"])
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "none.yaml")


def test_presets_load_and_round_trip():
    import yaml

    for preset in ("configs/maze_quick.yaml", "configs/maze_quick_transformer.yaml"):
        cfg = load_config(preset)
        assert config_from_dict(yaml.safe_load(dump_config(cfg))) == cfg


def test_nested_keys_are_checked_too():
    with pytest.raises(
        UserError, match=r"train.early_stop.patiense'; did you mean train.early_stop.patience"
    ):
        load_config(None, ["train.early_stop.patiense=3"])
    assert load_config(None, ["train.early_stop.patience=3"]).train.early_stop.patience == 3


def test_halting_rules_and_the_continue_head():
    from ponder.config import config_from_dict

    assert config_from_dict({"train": {"halting": False}}).train.halting == "none"
    assert config_from_dict({"train": {"halting": True}}).train.halting == "trm"
    q = config_from_dict({"train": {"halting": "hrm"}})
    assert q.model.name == "trm" and q.model.q_continue  # turned on for Q-learning
    with pytest.raises(UserError, match="train.halting"):
        config_from_dict({"train": {"halting": "sometimes"}})


def test_recipes_load():
    for name in ("hrm_maze_hard", "trm_maze_hard", "hrm_maze_cpu", "trm_maze_cpu"):
        cfg = load_config(f"configs/{name}.yaml")
        assert cfg.data.seq_len in (121, 900)
