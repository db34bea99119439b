"""Few-shot training end to end: the puzzle table, demonstration encoders and sequence
models train on a tiny skills dataset; the encoder diagnostics are logged; freeze, the
encoder's own rate, top-k checkpoints, latent search and the eval outputs work."""

from __future__ import annotations

import json

import pytest
import torch
from support import run, tiny_config

from ponder.config import config_from_dict
from ponder.data.fewshot_build import build_skills_dataset
from ponder.errors import UserError
from ponder.eval.latent_search import _demo_loss, _demo_queries, search_latents
from ponder.runs import open_run_data
from ponder.train.launch import train
from ponder.train.optim import build_optimizer
from ponder.trained import load_run


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fs") / "skills"
    return build_skills_dataset(out, train=12, test=4, unseen=4, seed=0, demos=3, max_size=6)


def _config(data, run_dir, model: dict, **train):
    base = {"name": "trm", "hidden_size": 32, "num_heads": 2, "ffn_multiple_of": 16, "n": 1,
            "T": 1, "pos_encoding": "rope2d", "puzzle_emb_len": 2}  # fmt: skip
    return tiny_config(data, run_dir, model={**base, **model}, train={"halting": "none", **train})


ENCODER = {"kind": "standard", "hidden_size": 16, "num_heads": 2, "num_layers": 1}


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_encoder_trm_trains_and_logs_its_diagnostics(skills_dir, tmp_path) -> None:
    cfg = _config(skills_dir, tmp_path / "r", {"demo_encoder": {**ENCODER, "lr": 3e-3}})
    run_dir = train(cfg, quiet=True)
    logged = {k for row in _log(run_dir) for k in row}
    for key in ("grad_norm_encoder", "grad_norm_trunk", "encoder_spread_relative",
                "encoder_cosine", "prefix_norm", "encoder_lr"):  # fmt: skip
        assert any(key in k for k in logged), key
    final = json.loads((run_dir / "summary.json").read_text())["final_eval"]
    for key in ("pass1", "pass2", "seen_pass2", "unseen_pass2", "val_loss",
                "eval_encoder_spread_relative"):  # fmt: skip
        assert key in final


def test_puzzle_table_trm_logs_its_prefix_norm(skills_dir, tmp_path) -> None:
    run_dir = train(_config(skills_dir, tmp_path / "r", {}), quiet=True)
    assert any("prefix_norm" in k for row in _log(run_dir) for k in row)


def test_variational_encoder_adds_its_kl(skills_dir, tmp_path) -> None:
    enc = {**ENCODER, "kind": "lpn_variational", "kl_weight": 0.1}
    run_dir = train(_config(skills_dir, tmp_path / "r", {"demo_encoder": enc}), quiet=True)
    assert any("train/kl" in row for row in _log(run_dir))


def test_frozen_encoder_weights_never_change(skills_dir, tmp_path) -> None:
    from ponder.models import build_model
    from ponder.train.runtime import seed_everything

    cfg = _config(skills_dir, tmp_path / "r", {"demo_encoder": {**ENCODER, "freeze": True}})
    run_dir = train(cfg, quiet=True)
    trained = load_run(run_dir)
    seed_everything(cfg.seed, cfg.deterministic)  # as train() does before building
    init = build_model(cfg.model, trained.data.spec).embed.demo
    frozen = [n for n, p in init.named_parameters() if not p.requires_grad]
    assert frozen, "freeze leaves the encoder weights untrainable"
    now, start = dict(trained.model.embed.demo.named_parameters()), dict(init.named_parameters())
    for name in frozen:
        assert torch.equal(now[name], start[name]), name
    moved = [n for n in now if n not in frozen and not torch.equal(now[n], start[n])]
    assert moved, "the prefix projection still trains"


def test_encoder_parameters_get_their_own_rate(skills_dir, tmp_path) -> None:
    cfg = _config(skills_dir, tmp_path / "r", {"demo_encoder": {**ENCODER, "lr": 5e-4}})
    from ponder.models import build_model
    from ponder.train.optim import set_lr

    model = build_model(cfg.model, open_run_data(cfg)[0].spec)
    opt = build_optimizer(model, cfg.train)
    set_lr(opt, 1e-3, 5e-4)
    rates = {g["encoder"]: g["lr"] for g in opt.param_groups}
    assert rates == {False: 1e-3, True: 5e-4}


@pytest.mark.parametrize("name", ["seq_decoder", "seq_encdec", "seq_champion"])
def test_sequence_models_train_with_top_k_checkpoints(skills_dir, tmp_path, name) -> None:
    model = {"name": name, "hidden_size": 16, "num_heads": 2, "ffn_multiple_of": 16}
    train_cfg = {"N_sup": 1, "halting": "none", "eval_every": 2, "keep_top_k": 2,
                 "optimizer": "adam", "schedule": "cosine_restarts", "restart_every": 2}  # fmt: skip
    raw = tiny_config(skills_dir, tmp_path / "r", train=train_cfg).to_dict()
    run_dir = train(config_from_dict({**raw, "model": model}), quiet=True)
    kept = sorted(p.name for p in (run_dir / "checkpoints").glob("val-*.safetensors"))
    assert len(kept) == 2


def test_sequence_model_on_a_maze_dataset_is_refused(tiny_maze_dir, tmp_path) -> None:
    raw = tiny_config(tiny_maze_dir, tmp_path / "r").to_dict()
    cfg = config_from_dict({**raw, "model": {"name": "seq_champion"}})
    with pytest.raises(UserError, match="few-shot dataset"):
        train(cfg, quiet=True)


def test_latent_search_lowers_the_demonstration_loss(skills_dir, tmp_path) -> None:
    run_dir = train(_config(skills_dir, tmp_path / "r", {"demo_encoder": ENCODER}), quiet=True)
    trained = load_run(run_dir)
    from ponder.data.loader import eval_batches

    batch = next(eval_batches(trained.data.test, 4))
    model = trained.model
    queries, weights = _demo_queries(batch)
    with torch.no_grad():
        start = model.embed.demo.encode(
            batch["demo_inputs"], batch["demo_labels"], batch["demo_mask"],
            batch["puzzle_identifiers"],
        ).latent  # fmt: skip
        before = float(_demo_loss(model, queries, weights, start, 2))
    found = search_latents(model, batch, n_sup=2, steps=10, lr=0.1)
    with torch.no_grad():
        after = float(_demo_loss(model, queries, weights, found, 2))
    assert after < before


def test_eval_cli_writes_a_submission_and_reports_pass_at_k(skills_dir, tmp_path, capsys) -> None:
    run_dir = train(_config(skills_dir, tmp_path / "r", {"demo_encoder": ENCODER}), quiet=True)
    code, out, _ = run(["eval", run_dir], capsys)
    assert code == 0 and "pass@2" in out and "set unseen" in out
    submission = json.loads((run_dir / "eval" / "submission.json").read_text())
    assert len(submission) == 8 and all("attempt_2" in s[0] for s in submission.values())
