import os
import random
from pathlib import Path

import pytest
import torch

from ponder.errors import UserError
from ponder.train import checkpoint as ckpt
from ponder.train.checkpoint import (
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    rng_from_flat,
    rng_to_flat,
    save_checkpoint,
)


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "model.w": torch.randn(4, 3, generator=g),
        "model.bf16": torch.randn(5, generator=g).to(torch.bfloat16),
        "carry.idx": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "carry.halted": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "view.t": torch.randn(3, 4, generator=g).t(),  # non-contiguous
    }


def test_round_trip_tensors_and_state(tmp_path: Path) -> None:
    tensors = _tensors()
    state = {"step": 7, "hash": "abc", "loader": {"epoch": 1, "pos": [3, 4]}, "lr": 1e-4}
    path = tmp_path / "checkpoints" / "last.safetensors"
    save_checkpoint(path, tensors, state)
    loaded, loaded_state = load_checkpoint(path)
    assert loaded_state == state
    assert loaded.keys() == tensors.keys()
    for key, value in tensors.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value)
    assert [p.name for p in path.parent.iterdir()] == ["last.safetensors"]


def test_shared_storage_is_saved(tmp_path: Path) -> None:
    w = torch.randn(4, 4)
    save_checkpoint(tmp_path / "c.safetensors", {"a": w, "b": w, "c": w[0]}, {})
    loaded, _ = load_checkpoint(tmp_path / "c.safetensors")
    assert torch.equal(loaded["a"], w) and torch.equal(loaded["b"], w)
    assert torch.equal(loaded["c"], w[0])


def _model_and_opt(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    return model, opt


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, i: int) -> None:
    g = torch.Generator().manual_seed(100 + i)
    x, y = torch.randn(16, 4, generator=g), torch.randn(16, 2, generator=g)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()


def test_adamw_round_trip(tmp_path: Path) -> None:
    model, opt = _model_and_opt(0)
    for i in range(3):
        _step(model, opt, i)
    opt_tensors, opt_state = optimizer_to_flat(opt, "optim")
    assert "optim.state.0.exp_avg" in opt_tensors
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | opt_tensors
    save_checkpoint(tmp_path / "c.safetensors", tensors, {"optim": opt_state})

    loaded, state = load_checkpoint(tmp_path / "c.safetensors")
    model2, opt2 = _model_and_opt(1)
    model2.load_state_dict({k[6:]: v for k, v in loaded.items() if k.startswith("model.")})
    optimizer_from_flat(opt2, loaded, state["optim"], "optim")
    assert opt2.param_groups[0]["betas"] == (0.9, 0.95)
    assert torch.equal(opt2.state_dict()["state"][0]["step"], opt.state_dict()["state"][0]["step"])

    _step(model, opt, 3)
    _step(model2, opt2, 3)
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_optimizer_with_plain_number_state() -> None:
    class Counting(torch.optim.SGD):
        def step(self, closure: object = None) -> object:
            for group in self.param_groups:
                for p in group["params"]:
                    st = self.state[p]
                    st["n"] = st.get("n", 0) + 1
                    st["scale"] = 0.5 * st.get("scale", 1.0)
            return super().step(closure)

    p = torch.nn.Parameter(torch.ones(3))
    opt = Counting([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        p.grad = torch.ones(3)
        opt.step()
    tensors, json_state = optimizer_to_flat(opt, "o")
    opt2 = Counting([torch.nn.Parameter(torch.ones(3))], lr=0.5)
    optimizer_from_flat(opt2, tensors, json_state, "o")
    st = opt2.state_dict()["state"][0]
    assert st["n"] == 2 and st["scale"] == 0.25
    assert torch.equal(st["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"])
    assert opt2.param_groups[0]["lr"] == 0.1


def test_rng_round_trip(tmp_path: Path) -> None:
    tensors, state = rng_to_flat()
    save_checkpoint(tmp_path / "r.safetensors", tensors, {"rng": state})
    expected = (torch.rand(3), random.random())
    loaded, loaded_state = load_checkpoint(tmp_path / "r.safetensors")
    torch.manual_seed(123)
    random.seed(5)
    rng_from_flat(loaded, loaded_state["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1]


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _tensors(), {"step": 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupted or truncated"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content", [os.urandom(1000), b"", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "]
)
def test_garbage_checkpoint(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.safetensors"
    path.write_bytes(content)
    with pytest.raises(UserError, match="corrupted or truncated"):
        load_checkpoint(path)


def test_checkpoint_without_ponder_state(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"a": torch.ones(2)}, tmp_path / "c.safetensors")
    with pytest.raises(UserError, match="corrupted or truncated: no ponder_state"):
        load_checkpoint(tmp_path / "c.safetensors")


def test_failed_save_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"w": torch.zeros(3)}, {"step": 1})

    def boom(*args: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(ckpt.os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        save_checkpoint(path, {"w": torch.ones(3)}, {"step": 2})
    monkeypatch.undo()
    tensors, state = load_checkpoint(path)
    assert state == {"step": 1} and torch.equal(tensors["w"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(tensors: object, filename: object, metadata: object = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save_file", half_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "last.safetensors", {"w": torch.ones(1)}, {})
    assert list(tmp_path.iterdir()) == []
