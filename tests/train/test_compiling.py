"""compile: true compiles the recursion blocks in place, or warns and stays eager."""

from __future__ import annotations

import torch
from support import tiny_config

from ponder.data.loader import TrainBatches
from ponder.models import build_model
from ponder.models.trunk import Trunk
from ponder.runs import open_run_data
from ponder.train import compiling
from ponder.train.launch import train


def tiny_model_and_loss(data_dir, run_dir, **model):
    config = (
        tiny_config(data_dir, run_dir, model=model) if model else tiny_config(data_dir, run_dir)
    )
    data, objective = open_run_data(config)
    torch.manual_seed(0)
    net = build_model(config.model, data.spec)
    batch = TrainBatches(data.train, 4, 0).batch(0)

    def loss() -> torch.Tensor:
        carry = net.init_carry(4, "cpu", batch["inputs"].shape[1])
        _, out = net(carry, batch)
        return objective.loss(out, batch, None)[0]

    return net, loss


def test_compiled_and_eager_models_give_the_same_loss_and_gradients(tiny_maze_dir, tmp_path):
    net, loss = tiny_model_and_loss(tiny_maze_dir, tmp_path / "run")
    eager = loss()
    eager.backward()
    eager_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    warnings = []
    assert compiling.compile_model(net, lambda: loss().backward(), warnings.append)
    assert warnings == []
    net.zero_grad(set_to_none=True)
    compiled = loss()
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    for got, want in zip((p.grad for p in net.parameters()), eager_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)
    names = [name for name, _ in net.named_parameters()]
    assert not any("_orig_mod" in name for name in names)  # checkpoints read the same


def test_a_deep_copy_of_a_compiled_model_runs_its_own_weights(tiny_maze_dir, tmp_path):
    """The EMA averages into a deep copy: its compiled blocks must not call the original's."""
    import copy

    net, loss = tiny_model_and_loss(tiny_maze_dir, tmp_path / "run")
    assert compiling.compile_model(net, lambda: loss().backward(), lambda line: None)
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(0.5)
    blocks = [m for m in twin.modules() if isinstance(m, Trunk)]
    assert all(block.forward.__self__ is block for block in blocks)
    x = torch.randn(1, 49, 32)
    with torch.no_grad():
        assert not torch.allclose(blocks[0](x), net.net(x))


def test_a_failing_compiler_leaves_the_eager_model_and_one_warning(
    tiny_maze_dir, tmp_path, monkeypatch
):
    net, loss = tiny_model_and_loss(tiny_maze_dir, tmp_path / "run")
    expected = loss().detach()

    def broken_compile(fn, **kwargs):
        def call(*args, **kw):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")

        return call

    monkeypatch.setattr(compiling.torch, "compile", broken_compile)
    warnings = []
    assert not compiling.compile_model(net, lambda: loss().backward(), warnings.append)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "No working C++ compiler found" in warnings[0] and "eager" in warnings[0]
    blocks = [m for m in net.modules() if isinstance(m, Trunk)]
    assert blocks and all("forward" not in block.__dict__ for block in blocks)
    torch.testing.assert_close(loss().detach(), expected)


def test_a_model_without_recursion_blocks_is_left_eager():
    warnings = []
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert not compiling.compile_model(model, lambda: None, warnings.append)
    assert "no recursion block" in warnings[0]


def test_a_run_with_a_failing_compiler_trains_eager_and_says_so(
    tiny_maze_dir, tmp_path, monkeypatch, capsys
):
    def broken_compile(fn, **kwargs):
        def call(*args, **kw):
            raise RuntimeError("compiler missing")

        return call

    monkeypatch.setattr(compiling.torch, "compile", broken_compile)
    config = tiny_config(tiny_maze_dir, tmp_path / "run", compile=True)
    run_dir = train(config)
    err = capsys.readouterr().err
    assert "ponder: warning: compile: torch.compile failed (compiler missing)" in err
    assert (run_dir / "checkpoints" / "last.safetensors").exists()


def test_hrm_recursion_blocks_are_both_found(tiny_maze_dir, tmp_path):
    from ponder.config import config_from_dict

    raw = tiny_config(tiny_maze_dir, tmp_path / "run").to_dict()
    raw["model"] = {"name": "hrm", "hidden_size": 32, "num_heads": 2, "ffn_multiple_of": 16}
    config = config_from_dict(raw)
    data, _ = open_run_data(config)
    assert len(compiling.recursion_blocks(build_model(config.model, data.spec))) == 2
