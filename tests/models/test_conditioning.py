"""Demonstration encoders: shapes, pair-order invariance, masking, KL, oracle, freezing,
prefix scale and the collapse diagnostics."""

import math

import pytest
import torch

from ponder.models.conditioning import (
    DemoEncoder,
    DemoEncoderConfig,
    collapse_stats,
    first_valid,
    prefix_norm,
)

KINDS = ["standard", "attention", "lpn", "lpn_variational", "oracle"]
C, VOCAB, IDS, D_OUT, P = 4, 12, 10, 16, 2
B, K, L = 3, 4, C * C


def _encoder(kind: str, seed: int = 0, **overrides) -> DemoEncoder:
    torch.manual_seed(seed)
    config = DemoEncoderConfig(kind=kind, hidden_size=32, num_heads=2, **overrides)
    return DemoEncoder(config, VOCAB, (C, C), IDS, out_hidden=D_OUT, prefix_len=P)


def _batch(seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.tensor(
        [[True, False, True, True], [False, True, False, False], [True, True, False, True]]
    )  # (B, K): rows with 3, 1 and 3 usable pairs, gaps where the own pair would be
    return {
        "demo_inputs": torch.randint(0, VOCAB, (B, K, L), generator=gen),
        "demo_labels": torch.randint(0, VOCAB, (B, K, L), generator=gen),
        "demo_mask": mask,
        "puzzle_identifiers": torch.tensor([3, 7, 3]),
    }


def _latent(encoder: DemoEncoder, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return encoder(batch)[1].latent


@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind):
    encoder = _encoder(kind)
    prefix, enc = encoder(_batch())
    assert enc.latent.shape == (B, 32) and enc.pair_latents.shape == (B, K, 32)
    assert prefix.shape == (B, P, D_OUT)
    assert not enc.pair_latents[~_batch()["demo_mask"]].any()  # zeros at masked slots
    assert (enc.kl is not None) == (kind == "lpn_variational")
    assert _encoder(kind, latent_dim=8)(_batch())[1].latent.shape == (B, 8)


@pytest.mark.parametrize("kind", KINDS)
def test_pair_order_does_not_matter(kind):
    encoder = _encoder(kind).eval()  # lpn_variational: mu, not a sample
    batch = _batch()
    order = torch.tensor([2, 0, 3, 1])
    permuted = {k: v[:, order] if k.startswith("demo_") else v for k, v in batch.items()}
    torch.testing.assert_close(
        _latent(encoder, permuted), _latent(encoder, batch), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("kind", KINDS)
def test_masked_slots_do_not_matter(kind):
    encoder = _encoder(kind).eval()
    batch = _batch()
    other = dict(batch)
    hidden = ~batch["demo_mask"]
    for key in ("demo_inputs", "demo_labels"):
        noise = torch.randint(0, VOCAB, batch[key].shape)
        other[key] = torch.where(hidden.unsqueeze(-1), noise, batch[key])
    assert torch.equal(_latent(encoder, other), _latent(encoder, batch))


@pytest.mark.parametrize("kind", KINDS)
def test_num_demos_keeps_the_first_valid_slots(kind):
    batch = _batch()
    one = {**batch, "demo_mask": first_valid(batch["demo_mask"], 1)}
    assert one["demo_mask"].sum(-1).tolist() == [1, 1, 1]
    expected = _latent(_encoder(kind).eval(), one)
    actual = _latent(_encoder(kind, num_demos=1).eval(), batch)  # same seed, same weights
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


def test_ignore_labels_read_as_padding():
    encoder = _encoder("standard").eval()
    batch = _batch()
    batch["demo_labels"][:, :, L // 2 :] = 0
    ignored = {
        **batch,
        "demo_labels": batch["demo_labels"].masked_fill(batch["demo_labels"] == 0, -100),
    }
    torch.testing.assert_close(_latent(encoder, ignored), _latent(encoder, batch))


def test_variational_kl_and_sampling():
    encoder = _encoder("lpn_variational")
    batch, mask = _batch(), _batch()["demo_mask"]
    enc = encoder.eval()(batch)[1]
    var = enc.logvar.exp()
    per_pair = 0.5 * (enc.mu**2 + var - 1 - enc.logvar).sum(-1)  # (B, K)
    expected = torch.stack([per_pair[b][mask[b]].mean() for b in range(B)])
    torch.testing.assert_close(enc.kl, expected)
    assert (enc.kl >= 0).all() and enc.kl.gt(0).all()
    torch.testing.assert_close(enc.latent, (enc.mu * mask.unsqueeze(-1)).sum(1) / mask.sum(1, True))
    assert torch.equal(_latent(encoder, batch), enc.latent)  # eval is deterministic
    train_latent = _latent(encoder.train(), batch)
    assert not torch.allclose(train_latent, enc.latent)  # training samples
    assert encoder.kl_loss(enc).item() == pytest.approx(1e-4 * enc.kl.mean().item())


def test_oracle_is_a_fixed_code_per_identifier():
    encoder = _encoder("oracle")
    batch = _batch()
    other = {**batch, "demo_inputs": torch.randint(0, VOCAB, (B, K, L))}
    latent = _latent(encoder, batch)
    assert torch.equal(latent, _latent(encoder, other))  # demos ignored
    assert torch.equal(latent[0], latent[2])  # both rows are puzzle 3
    assert not torch.equal(latent[0], latent[1])
    assert torch.equal(encoder.codes, _encoder("oracle", seed=5).codes)  # fixed, any seed
    assert not encoder.codes.requires_grad
    assert encoder.encoder_parameters() == []  # only the prefix projection trains
    assert "codes" in encoder.state_dict()


def _prefix_loss(encoder: DemoEncoder) -> torch.Tensor:
    prefix, enc = encoder(_batch())
    target = torch.randn(prefix.shape, generator=torch.Generator().manual_seed(2))
    return (prefix * target).sum() + encoder.kl_loss(enc)


@pytest.mark.parametrize("kind", KINDS[:4])
def test_every_encoder_parameter_trains(kind):
    encoder = _encoder(kind).train()
    _prefix_loss(encoder).backward()
    for name, p in encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", ["standard", "lpn_variational"])
def test_freeze_stops_the_encoder_not_the_projection(kind):
    encoder = _encoder(kind, freeze=True).train()
    _prefix_loss(encoder).backward()
    frozen = encoder.encoder_parameters()
    assert frozen and all(not p.requires_grad and p.grad is None for p in frozen)
    assert encoder.prefix_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["standard", "oracle"])
def test_prefix_has_token_embedding_scale(kind):
    torch.manual_seed(0)
    config = DemoEncoderConfig(kind=kind, hidden_size=32, num_heads=2)
    encoder = DemoEncoder(config, VOCAB, (C, C), IDS, out_hidden=64, prefix_len=4)
    prefix, enc = encoder(_batch())
    rms = prefix.pow(2).mean().sqrt().item()
    assert 0.5 / math.sqrt(64) < rms < 2 / math.sqrt(64)
    assert prefix_norm(prefix) == pytest.approx(1.0, rel=0.01)
    latent = enc.latent.detach().requires_grad_(True)  # test-time search steps on the latent
    encoder.to_prefix(latent).sum().backward()
    assert latent.grad is not None and latent.grad.abs().sum() > 0


def test_bad_head_width_is_refused():
    with pytest.raises(ValueError):
        DemoEncoderConfig(hidden_size=24, num_heads=4)  # 6 channels per head: not 2D RoPE


def test_collapse_stats():
    ids = torch.tensor([0, 1, 2, 3])
    same = collapse_stats(torch.ones(4, 8), ids)
    assert same["encoder_spread"] == 0 and same["encoder_cosine"] == pytest.approx(1.0)
    assert same["encoder_norm"] == pytest.approx(math.sqrt(8))
    random = collapse_stats(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), ids)
    assert random["encoder_spread"] > 0.3 and random["encoder_cosine"] < 0.9
    assert collapse_stats(torch.randn(3, 8), torch.tensor([5, 5, 5]))["encoder_spread"] == 0


def test_collapse_stats_counts_a_task_once():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # Two copies of task 0 and one of task 1: per-task std, not per-row.
    stats = collapse_stats(torch.stack([a, a, b]), torch.tensor([0, 0, 1]))
    assert stats["encoder_spread"] == pytest.approx(torch.stack([a, b]).std(0).mean().item())
    assert stats["encoder_cosine"] == pytest.approx(0.0)
    # Rows of one task are averaged: [1, 0] and [0, 1] under id 0 make [0.5, 0.5].
    stats = collapse_stats(torch.stack([a, b, a + b]), torch.tensor([0, 0, 1]))
    assert stats["encoder_cosine"] == pytest.approx(1.0)
