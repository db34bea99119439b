"""ponder's TRM and HRM compute what the official code computes (fp32, CPU, within fp32's
own rounding error).

The fixtures under tests/fixtures/official_models were made by the official models
themselves (tools/official_model_fixtures.py; manifest.json names the commits): their
weights under official names, four batches, and per segment the logits, q_halt,
q_continue, the carries, the step counts and the halting flags, in eval mode (halting at
the limit) and in training mode without exploration (halting by the Q rule). Here the
weights go into ponder's models through ponder.models.official_keys, the four segments are
run as the official ACT wrapper runs them (halted rows get a fresh carry and the new
batch's row), and every recorded tensor is compared.

The tolerance is fp32's own rounding error, measured on the machine that runs the test:
the same four segments run once more in float64, and a tensor passes when ponder's fp32
result is within NOISE_FACTOR times its distance from that float64 result (at least
FLOOR). A fixed 1e-5 was tighter than fp32 can promise after four segments: the float64
run differs from the fp32 fixture by up to 3.4e-5, and fp32 kernels round differently on
another CPU (a Xeon with AMX gave 1.1e-5 to 2.7e-5 where the fixture's machine gave 0). A
bug in ponder moves its fp32 and float64 runs alike, so it is not mistaken for noise; the
smallest one tried (rms_norm's eps 1e-6 for 1e-5) moves the answers by 1.2e-4 to 4.8e-4,
and test_a_small_bug_is_not_taken_for_rounding_noise keeps it caught.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ponder.errors import UserError
from ponder.models import DataSpec, build_model, feedforward
from ponder.models.base import carry_where
from ponder.models.halting import halt_decision, q_continue_target
from ponder.models.official_keys import (
    KEY_TABLE,
    config_from_official,
    from_official,
    official_key,
    official_train_keys,
    ponder_key,
    to_official,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official_models"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CONFIGS = list(MANIFEST["configs"])
NOISE_FACTOR = 4.0
FLOOR = 1e-5
NAMES = {"trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
         "hrm": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The models are tiny (3 x 18 x 32): one thread runs them in milliseconds, where two
    threads on a busy machine wait on each other for seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _arch(config: str) -> dict:
    entry = MANIFEST["configs"][config]
    return {"name": NAMES[entry["official"]], **entry["arch"]}


def _official_weights(config: str) -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / config / "weights.safetensors")


def _ponder_model(config: str, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    arch = _arch(config)
    spec = DataSpec(
        vocab_size=arch["vocab_size"],
        seq_len=arch["seq_len"],
        grid_shape=(4, 4),
        num_puzzle_identifiers=arch["num_puzzle_identifiers"],
    )
    model = build_model(config_from_official(arch), spec)
    model.load_state_dict(from_official(model, _official_weights(config)))
    return model.to(dtype)


def _carry_tensors(carry) -> dict[str, torch.Tensor]:
    """The carry under the official names: TRM's (y, z) is the official (z_H, z_L)."""
    if hasattr(carry, "y"):
        return {"z_H": carry.y, "z_L": carry.z}
    return {"z_H": carry.z_H, "z_L": carry.z_L}


def _run_like_the_act_wrapper(
    config: str, mode: str, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """Four segments of ponder's model, each row reset and fed the new batch's row when it
    halted at the segment before (at first every row counts as halted)."""
    arch, expected = _arch(config), load_file(FIXTURES / config / "expected.safetensors")
    model = _ponder_model(config, dtype)
    model.train(mode == "train")
    train_keys = official_train_keys(arch)
    n_sup, rule = train_keys["N_sup"], train_keys["halting"]
    b = arch["batch_size"]
    carry, data = model.init_carry(b, "cpu"), None
    halted, steps = torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.int32)
    got = {}
    for segment in range(1, MANIFEST["segments"] + 1):
        batch = {
            k: expected[f"batch{segment}.{k}"].long() for k in ("inputs", "puzzle_identifiers")
        }
        carry = carry_where(halted, model.init_carry(b, "cpu"), carry)
        data = batch if data is None else {
            k: torch.where(halted.view(-1, *[1] * (v.dim() - 1)), v, data[k]) for k, v in batch.items()
        }  # fmt: skip
        steps = torch.where(halted, 0, steps) + 1
        with torch.no_grad():
            carry, out = model(carry, data)
        values = {"logits": out.logits, "q_halt_logits": out.q_halt,
                  "q_continue_logits": out.q_continue, **_carry_tensors(carry)}  # fmt: skip
        if mode == "train":
            halted = halt_decision(out, steps, rule=rule, n_sup=n_sup)
            if rule == "hrm":
                values["target_q_continue"] = q_continue_target(model, carry, data, steps, n_sup)
        else:
            halted = steps >= n_sup
        values.update(steps=steps, halted=halted)
        got.update({f"{mode}.segment{segment}.{k}": v for k, v in values.items()})
    return got


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def _disagreements(got: dict, exact: dict, expected: dict, mode: str) -> list[str]:
    """What differs between ponder's fp32 run (`got`) and the fixture, each float tensor
    allowed NOISE_FACTOR times fp32's rounding error (`got` against the float64 run
    `exact`)."""
    problems = []
    keys = sorted(k for k in expected if k.startswith(mode + "."))
    assert keys and set(keys) == set(got), "the fixture and the run record the same tensors"
    for key in keys:
        want, have = expected[key], got[key]
        if want.is_floating_point():
            diff = _max_diff(have, want) if have.shape == want.shape else float("inf")
            tolerance = max(FLOOR, NOISE_FACTOR * _max_diff(have, exact[key]))
            if diff > tolerance:
                problems.append(f"{key}: max |diff| {diff:.2e} > tolerance {tolerance:.2e}")
        elif not torch.equal(have.to(want.dtype), want):
            problems.append(f"{key}: {have.tolist()} != official {want.tolist()}")
    return problems


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("config", CONFIGS)
def test_every_segment_matches_the_official_model(config, mode):
    assert not (problems := _compare(config, mode)), "\n".join(problems)


def _compare(config: str, mode: str) -> list[str]:
    expected = load_file(FIXTURES / config / "expected.safetensors")
    got = _run_like_the_act_wrapper(config, mode)
    exact = _run_like_the_act_wrapper(config, mode, torch.float64)
    return _disagreements(got, exact, expected, mode)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_small_bug_is_not_taken_for_rounding_noise(config, monkeypatch):
    """The tolerance follows fp32's noise, not ponder's errors: rms_norm's eps at 1e-6
    instead of the official 1e-5 must fail in eval mode for every config."""
    monkeypatch.setattr(feedforward.rms_norm, "__defaults__", (1e-6,))
    assert _compare(config, "eval")


def test_the_fixtures_exercise_halting_and_resets():
    """A test that cannot fail proves nothing: the training runs must halt some rows and
    not others, and the eval runs must reset every row at the halting limit."""
    for config in CONFIGS:
        expected = load_file(FIXTURES / config / "expected.safetensors")
        train = torch.stack([expected[f"train.segment{s}.halted"] for s in range(1, 5)])
        assert train.any() and not train.all(), config
        assert expected["eval.segment3.halted"].all() and not expected["eval.segment4.halted"].any()
        assert (expected["eval.segment4.steps"] == 1).all()


def test_the_fixture_weights_are_not_the_official_constants():
    for config in CONFIGS:
        weights = _official_weights(config)
        assert weights["inner.q_head.weight"].abs().sum() > 0
        assert weights["inner.puzzle_emb.weights"].abs().sum() > 0


# --------------------------------------------------------------------------- key names


@pytest.mark.parametrize("prefix", ["", "model.", "_orig_mod.model.", "_orig_mod."])
@pytest.mark.parametrize("config", CONFIGS)
def test_official_names_round_trip(config, prefix):
    name = MANIFEST["configs"][config]["official"]
    for key in _official_weights(config):
        assert official_key(name, ponder_key(name, prefix + key), prefix="") == key


@pytest.mark.parametrize("config", CONFIGS)
def test_ponder_state_dict_round_trips_to_checkpoint_names(config):
    model = _ponder_model(config)
    official = to_official(model.config.name, model.state_dict())
    assert all(k.startswith("_orig_mod.model.inner.") for k in official)
    weights = _official_weights(config)
    assert {k.removeprefix("_orig_mod.model.") for k in official} == set(weights)
    back = from_official(model, official)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())


def _refusal(model, weights) -> str:
    with pytest.raises(UserError) as err:
        from_official(model, weights)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_missing_key_is_refused_with_its_name():
    model, weights = _ponder_model("hrm"), _official_weights("hrm")
    del weights["inner.L_level.layers.0.mlp.down_proj.weight"]
    message = _refusal(model, weights)
    assert "inner.L_level.layers.0.mlp.down_proj.weight" in message
    assert "L.blocks.0.mlp.down.weight" in message


def test_an_extra_key_is_refused_with_its_name():
    model, weights = _ponder_model("trm_attention"), _official_weights("trm_attention")
    weights["inner.L_level.layers.7.mlp.down_proj.weight"] = torch.zeros(1)
    assert "inner.L_level.layers.7.mlp.down_proj.weight" in _refusal(model, weights)
    weights = _official_weights("trm_attention")
    weights["_orig_mod.model.inner.extra_head.weight"] = torch.zeros(1)
    assert "extra_head" in _refusal(model, weights)
    weights = _official_weights("trm_attention")
    weights["_orig_mod.model.inner.lm_head.weight"] = weights["inner.lm_head.weight"]
    assert "a second key for ponder's 'lm_head.weight'" in _refusal(model, weights)


def test_a_wrong_shape_is_refused_with_both_shapes():
    model, weights = _ponder_model("trm_mlp"), _official_weights("trm_mlp")
    weights["inner.lm_head.weight"] = torch.zeros(7, 32)
    message = _refusal(model, weights)
    assert "inner.lm_head.weight" in message and "(7, 32)" in message and "(6, 32)" in message


# --------------------------------------------------------------------------- arch configs


def test_official_arch_configs_map_to_ponder_keys():
    trm = config_from_official(_arch("trm_mlp"))
    assert (trm.name, trm.T, trm.n, trm.num_layers) == ("trm", 2, 2, 1)
    assert (trm.mixer, trm.mlp_mixer_norm, trm.pos_encoding) == ("mlp", "sequence", "learned")
    assert (trm.puzzle_emb_len, trm.puzzle_emb_dim, trm.q_continue) == (2, 32, True)
    hrm = config_from_official(_arch("hrm"))
    assert (hrm.H_cycles, hrm.L_cycles, hrm.H_layers, hrm.L_layers) == (2, 2, 1, 1)
    assert hrm.puzzle_emb_len == 1 and hrm.ffn_multiple_of == 256
    assert official_train_keys(_arch("trm_attention")) == {
        "N_sup": 3, "halt_exploration_prob": 0.0, "halting": "trm"
    }  # fmt: skip
    assert official_train_keys(_arch("hrm"))["halting"] == "hrm"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"rope_theta": 500.0}, "rope_theta"),
        ({"some_new_key": 1}, "some_new_key"),
        ({"name": "models.other@Other"}, "not an HRM or TRM"),
        ({"pos_encodings": "none"}, "pos_encodings"),
        ({"mlp_t": True}, "mlp_t"),
    ],
)
def test_arch_configs_ponder_cannot_reproduce_are_refused(change, words):
    with pytest.raises(UserError, match=words):
        config_from_official({**_arch("hrm"), **change})


def test_the_mlp_mixer_matches_only_with_the_official_norm_axis():
    """The comparison can fail: with ponder's default norm after the MLP mixer (over the
    channels) the official TRM's mlp_t model (norm over the positions) is not reproduced."""
    arch, expected = _arch("trm_mlp"), load_file(FIXTURES / "trm_mlp" / "expected.safetensors")
    config = config_from_official(arch).model_copy(update={"mlp_mixer_norm": "hidden"})
    spec = DataSpec(vocab_size=6, seq_len=16, grid_shape=(4, 4), num_puzzle_identifiers=5)
    model = build_model(config, spec)
    model.load_state_dict(from_official(model, _official_weights("trm_mlp")))
    batch = {k: expected[f"batch1.{k}"].long() for k in ("inputs", "puzzle_identifiers")}
    with torch.no_grad():
        _, out = model(model.init_carry(3, "cpu"), batch)
    assert (out.logits - expected["eval.segment1.logits"]).abs().max() > 1e-2


def test_docs_models_lists_the_key_table():
    """docs/models.md's table of official key names is KEY_TABLE, row for row."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    section = doc.split("## Official checkpoints: key names", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[tuple[str, str]]] = {"trm": set(), "hrm": set()}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("inner."):
            for name, ponder in zip(("trm", "hrm"), cells[1:], strict=True):
                if ponder != "-":
                    listed[name].add((cells[0], ponder))
    assert listed == {name: set(pairs) for name, pairs in KEY_TABLE.items()}
