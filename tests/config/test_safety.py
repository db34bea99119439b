"""A config's mistakes are refused in one line before anything is written: sections of the
wrong type, seeds and sizes torch cannot take, heads that do not split the width, a model
too large for the machine, non-finite floats, booleans for numbers, and YAML or JSON files
that are not UTF-8 or repeat a key (issue 12, items 10, 11, 12, 17b)."""

from __future__ import annotations

import pytest
from refusals import assert_refused, write_config
from support import run, tiny_config, write

from ponder.config import config_from_dict, load_config
from ponder.errors import UserError
from ponder.fileio import read_json_file, read_yaml_file


@pytest.fixture
def base(tiny_maze_dir, tmp_path, monkeypatch):
    """base.yaml: the tiny TRM on 7x7 mazes, training into runs/tiny under tmp_path."""
    monkeypatch.chdir(tmp_path)
    return write_config(tmp_path / "base.yaml", tiny_config(tiny_maze_dir, tmp_path / "x"))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["seed=-1"], "'seed'"),
        (["seed=1180591620717411303424"], "'seed'"),  # 2**70: torch cannot take it
        (["seed=true"], "'seed'"),
        (["train.lr=.inf"], "'train.lr'"),
        (["train.betas=[0.9, .nan]"], "'train.betas.1'"),
        (["fewshot.latent_search_lr=-.inf"], "'fewshot.latent_search_lr'"),
        (["data.vocab_size=true"], "'data.vocab_size'"),
        (["model.mixer=attention", "model.num_heads=3"], "model.num_heads 3"),
        (["model.pos_encoding=rope2d", "model.num_heads=16"], "multiple of 4"),
        (["model.hidden_size=1000000000000"], "model.hidden_size"),
        (["model.expansion=1e30"], "model.expansion"),
        (["model=trm"], "section 'model'"),
        (["model=[1, 2]"], "section 'model'"),
        (["train=null"], "section 'train'"),
        (["train=5"], "section 'train'"),
    ],
)
def test_train_refuses_a_bad_value_and_writes_nothing(base, tmp_path, capsys, overrides, named):
    assert_refused(["train", base, *overrides], capsys, tmp_path, named)
    assert not (tmp_path / "runs").exists()


def test_a_model_too_large_for_the_machine_is_refused_before_the_run_directory(
    base, tmp_path, capsys
):
    """It passes validation (within every bound) but could never train: the estimate on the
    meta device refuses it, and a rerun of the same name is not blocked by leftovers."""
    message = assert_refused(
        ["train", base, "model.hidden_size=1048576"], capsys, tmp_path, "parameters"
    )
    assert "GiB" in message
    assert not (tmp_path / "runs").exists()
    code, out, err = run(["train", base], capsys)
    assert code == 0, err
    assert "run saved in runs/tiny" in out


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("train:\n  lr: 0.001\n  lr: 0.002\n", "duplicate key 'lr' at line 3"),
        ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
        ("train: {lr: 1e-3\n", "is not valid YAML"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_a_bad_config_file_is_refused(tmp_path, capsys, monkeypatch, text, named):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path / "bad.yaml", text)
    assert_refused(["train", config], capsys, tmp_path, "bad.yaml", named)


def test_a_config_file_that_is_not_utf8_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "latin1.yaml"
    config.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert_refused(["train", config], capsys, tmp_path, "latin1.yaml", "UTF-8")


def test_bool_and_non_finite_refusals_hold_in_every_section():
    for raw, key in [
        ({"grid": {"class_weights": {3: float("inf")}}}, "grid.class_weights.3"),
        ({"train": {"early_stop": {"min_delta": float("nan")}}}, "train.early_stop.min_delta"),
        ({"model": {"name": "trm", "halt_bias_init": float("-inf")}}, "model.halt_bias_init"),
        ({"model": {"name": "trm", "n": True}}, "model.n"),
        ({"train": {"steps": False}}, "train.steps"),
    ]:
        with pytest.raises(UserError, match=f"config key '{key}'"):
            config_from_dict(raw)
    assert config_from_dict({"train": {"ema": True, "halting": False}}).train.halting == "none"


def test_heads_must_split_the_width_only_where_attention_is_used():
    conv = {"name": "trm", "mixer": "conv", "hidden_size": 32, "num_heads": 3}
    assert config_from_dict({"model": conv}).model.num_heads == 3  # unused by convolutions
    with pytest.raises(UserError, match="must be a multiple of 4"):
        config_from_dict({"model": {"name": "seq_champion", "hidden_size": 40, "num_heads": 4}})
    with pytest.raises(UserError, match="must be a multiple of 2"):
        config_from_dict({"model": {"name": "trm", "hidden_size": 30, "num_heads": 2}})


def test_a_valid_config_with_every_default_still_loads(tmp_path):
    assert load_config(write(tmp_path / "empty.yaml", "")).seed == 0
    assert load_config(None, ["seed=4294967295"]).seed == 2**32 - 1


# ----- the strict readers every YAML and JSON file goes through ------------------------------
def test_read_yaml_file_refuses_what_pyyaml_lets_through(tmp_path):
    nested = write(tmp_path / "nested.yaml", "a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(UserError, match="found duplicate key 'b' at line 4"):
        read_yaml_file(nested, "config file")
    with pytest.raises(UserError, match="config file not found"):
        read_yaml_file(tmp_path / "none.yaml", "config file")
    with pytest.raises(UserError, match="is a directory"):
        read_yaml_file(tmp_path, "config file")
    merged = write(tmp_path / "merge.yaml", "base: &b {x: 1, y: 2}\nrun:\n  <<: *b\n  x: 5\n")
    assert read_yaml_file(merged)["run"] == {"x": 5, "y": 2}  # overriding a merge is fine


def test_read_json_file_refuses_repeated_keys_bad_bytes_and_non_objects(tmp_path):
    with pytest.raises(UserError, match="key 'a' appears twice"):
        read_json_file(write(tmp_path / "dup.json", '{"x": {"a": 1, "a": 2}}'))
    with pytest.raises(UserError, match="invalid JSON .* at line 2"):
        read_json_file(write(tmp_path / "bad.json", '{\n"a": }'))
    with pytest.raises(UserError, match="must hold a JSON object"):
        read_json_file(write(tmp_path / "list.json", "[1]"))
    assert read_json_file(tmp_path / "list.json", mapping=False) == [1]
    (tmp_path / "bytes.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(UserError, match="not UTF-8"):
        read_json_file(tmp_path / "bytes.json")


# ----- QA after issue 12 ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["train.betas=[2, 3]"], "'train.betas': each beta must be in [0, 1) (got [2, 3])"),
        (["train.betas=[0.9, 1]"], "'train.betas': each beta must be in [0, 1)"),
        (["train.betas=[-0.1, 0.9]"], "'train.betas': each beta must be in [0, 1)"),
        (["model.T=100000"], "model.T must be at most 1024"),
        (["model.n=1025"], "model.n must be at most 1024"),
        (["train.N_sup=1025"], "'train.N_sup'"),
        (["name= "], "config key 'name': a run name must not be empty"),
    ],
)
def test_values_that_used_to_crash_or_run_forever_are_refused(
    base, tmp_path, capsys, overrides, named
):
    assert_refused(["train", base, *overrides], capsys, tmp_path, named)
    assert not (tmp_path / "runs").exists()


def test_every_recursion_count_is_bounded_at_1024():
    for model, key in [("hrm", "H_cycles"), ("hrm", "L_cycles"), ("poh", "R"), ("trm", "T")]:
        with pytest.raises(UserError, match=f"model.{key} must be at most 1024, got 1025"):
            config_from_dict({"model": {"name": model, key: 1025}})
        assert getattr(config_from_dict({"model": {"name": model, key: 1024}}).model, key) == 1024
    assert load_config(None, ["train.N_sup=1024"]).train.N_sup == 1024


def test_a_suite_dry_run_refuses_betas_torch_would_refuse(base, tmp_path, capsys):
    suite = write(
        tmp_path / "s.yaml",
        "name: s\nruns:\n  a: {config: base.yaml, overrides: ['train.betas=[2, 3]']}\n",
    )
    assert_refused(["suite", suite, "--dry-run"], capsys, tmp_path, "'train.betas': each beta")


@pytest.mark.parametrize("command", [["train"], ["bench", "step"], ["parity", "base.yaml"]])
def test_an_empty_config_path_is_named(base, tmp_path, capsys, command):
    assert_refused([*command, ""], capsys, tmp_path, "the config file path is empty")


def test_a_batch_too_large_for_the_machine_is_refused_before_anything_is_allocated(
    base, tmp_path, capsys, monkeypatch
):
    """The memory check counts each example of the batch (inputs, carry, activations),
    not only the model. Here the machine is made small (64 MiB) so a modest batch stands
    for global_batch_size=10**9 on a real one: were the check to miss it, the run would
    still fit and the test would fail, not the machine."""
    monkeypatch.setattr("ponder.train.sizing.device_memory", lambda device: 64 * 2**20)
    message = assert_refused(
        ["train", base, "train.global_batch_size=4096"],
        capsys,
        tmp_path,
        "train.global_batch_size 4096 needs at least",
        "per example",
        "make train.global_batch_size smaller",
    )
    assert "more than the 0.1 GiB of this cpu device" in message
    assert not (tmp_path / "runs").exists()
    code, _, err = run(["train", base, "train.global_batch_size=8"], capsys)
    assert code == 0, err  # the tiny run itself fits in 64 MiB by the estimate


def test_the_batch_is_split_across_ranks(tiny_maze_dir, tmp_path, monkeypatch):
    import torch

    from ponder.runs import open_run_data
    from ponder.train.sizing import check_model_fits

    monkeypatch.setattr("ponder.train.sizing.device_memory", lambda device: 64 * 2**20)
    config = tiny_config(tiny_maze_dir, tmp_path / "x", train={"global_batch_size": 4096})
    spec = open_run_data(config)[0].spec
    with pytest.raises(UserError, match="4,096 examples per device"):
        check_model_fits(config, spec, torch.device("cpu"))
    check_model_fits(config, spec, torch.device("cpu"), world_size=512)  # 8 per rank
