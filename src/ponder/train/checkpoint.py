"""Checkpoints: one safetensors file with every tensor and a JSON document of the rest.

The non-tensor state (step, config hash, loader position, optimizer hyperparameters, python
RNG state) lives in the safetensors metadata under ``ponder_state``, so a checkpoint is
never unpickled. Files are written to a temporary name, fsynced and renamed, so a run killed
at any moment leaves the previous complete checkpoint in place.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ponder.errors import UserError

STATE_KEY = "ponder_state"

# Markers used when a nested structure (an optimizer state_dict) is written as JSON.
_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_INT_KEYS = "__int_keys__"


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Write ``tensors`` and the JSON-able ``state`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {STATE_KEY: json.dumps(state)}
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        save_file(_prepare_tensors(tensors), tmp, metadata=metadata)
        # save_file closes its handle without fsync; fsync through a new one (same inode).
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by ``save_checkpoint``; user errors for missing/corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata()
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # any parse failure of an untrusted file is the user's problem
        raise _corrupt(path, _short(exc)) from exc
    if not metadata or STATE_KEY not in metadata:
        raise _corrupt(path, f"no {STATE_KEY} metadata")
    try:
        state = json.loads(metadata[STATE_KEY])
    except json.JSONDecodeError as exc:
        raise _corrupt(path, f"bad {STATE_KEY} JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise _corrupt(path, f"{STATE_KEY} is not a JSON object")
    return tensors, state


def optimizer_to_flat(
    optimizer: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors keyed ``{prefix}.…`` and a JSON part."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(optimizer.state_dict(), "", prefix, tensors)
    return tensors, encoded


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    json_state: dict,
    prefix: str,
    source: Path | str = "",
) -> None:
    """Inverse of ``optimizer_to_flat``: rebuild the state_dict, check that it fits the
    optimizer's parameters (torch would load a misshapen moment and fail at the next step)
    and load it. `source` names the checkpoint in errors."""
    saved = _decode(json_state, prefix, tensors, source)
    _check_optimizer_state(optimizer, saved, prefix, source)
    optimizer.load_state_dict(saved)


def load_module_state(module: Any, tensors: dict[str, torch.Tensor], prefix: str, source) -> None:
    """Load the state of `module` (anything with state_dict / load_state_dict of tensors:
    a model, the EMA, the sparse optimizer) from the tensors named `prefix` + key. Every key
    and shape is checked first, so a mismatch names the tensor."""
    expected = module.state_dict()
    require_like(tensors, {prefix + k: v for k, v in expected.items()}, source)
    extra = sorted(k for k in tensors if k.startswith(prefix) and k[len(prefix) :] not in expected)
    if extra:
        raise UserError(f"{_named(source)} has tensor {extra[0]}, which this run does not")
    require_finite(tensors, [prefix + k for k in expected], source)
    module.load_state_dict({k: tensors[prefix + k] for k in expected})


def require_finite(tensors: dict[str, torch.Tensor], keys: list[str], source: Path | str) -> None:
    """The floating-point tensors `keys` hold no NaN or infinity. Training never saves
    such weights (it skips non-finite steps), so they mean a damaged file, which would
    otherwise load and answer nothing but garbage."""
    for key in keys:
        tensor = tensors[key]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{_named(source)}: tensor {key} holds NaN or infinite values")


def require_like(
    tensors: dict[str, torch.Tensor], like: dict[str, torch.Tensor], source: Path | str
) -> None:
    """Every key of `like` is in `tensors`, with the same shape."""
    for key, ref in like.items():
        have = _require(tensors, key, source)
        if have.shape != ref.shape:
            raise UserError(
                f"{_named(source)}: tensor {key} has shape {list(have.shape)} where this "
                f"run needs {list(ref.shape)}"
            )


def rng_to_flat() -> tuple[dict[str, torch.Tensor], dict]:
    """Torch CPU and CUDA generator states as tensors; python ``random`` state as JSON."""
    tensors = {"rng.cpu": torch.get_rng_state()}
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for i in range(n_cuda):
        tensors[f"rng.cuda.{i}"] = torch.cuda.get_rng_state(i)
    version, internal, gauss_next = random.getstate()
    state = {"python": [version, list(internal), gauss_next], "cuda_devices": n_cuda}
    return tensors, state


def rng_from_flat(
    tensors: dict[str, torch.Tensor], json_state: dict, source: Path | str = ""
) -> None:
    """Restore the generator states saved by ``rng_to_flat``."""
    require_like(tensors, {"rng.cpu": torch.get_rng_state()}, source)
    saved_cuda = json_state.get("cuda_devices", 0) if isinstance(json_state, dict) else None
    if isinstance(saved_cuda, bool) or not isinstance(saved_cuda, int) or saved_cuda < 0:
        raise _corrupt(source, f"bad RNG state {json_state!r:.80}")
    python_state = _python_rng_state(json_state.get("python"), source)
    torch.set_rng_state(tensors["rng.cpu"].to(torch.uint8))
    here_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if saved_cuda != here_cuda:
        # Resuming on different hardware is allowed; CUDA sampling just won't replay exactly.
        warnings.warn(
            f"checkpoint has RNG state for {saved_cuda} CUDA device(s), this machine has "
            f"{here_cuda}; restoring the ones that match",
            stacklevel=2,
        )
    for i in range(min(saved_cuda, here_cuda)):
        require_like(tensors, {f"rng.cuda.{i}": torch.cuda.get_rng_state(i)}, source)
        torch.cuda.set_rng_state(tensors[f"rng.cuda.{i}"].to(torch.uint8), i)
    random.setstate(python_state)


def _python_rng_state(saved: Any, source: Path | str) -> tuple:
    """The state tuple of python's `random` from its JSON form, checked by setting it on a
    spare generator (random.setstate validates it; the global one is set by the caller)."""
    try:
        version, internal, gauss_next = saved
        state = (version, tuple(internal), gauss_next)
        random.Random().setstate(state)
    except (TypeError, ValueError) as exc:
        raise _corrupt(source, f"bad python RNG state ({_short(exc)})") from None
    return state


def _prepare_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors with no two sharing storage (safetensors refuses shared ones)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in tensors.items():
        t = tensor.detach().contiguous().cpu()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() > 0 and ptr in seen:
            t = t.clone()
        elif t.numel() > 0:
            seen.add(ptr)
        out[key] = t
    return out


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; not every platform lets a directory be opened, so best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _corrupt(path: Path | str, reason: str) -> UserError:
    return UserError(f"{_named(path)} is corrupted or truncated: {reason}")


def _named(source: Path | str) -> str:
    return f"checkpoint {source}" if str(source) else "the checkpoint"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _require(tensors: dict[str, torch.Tensor], key: str, source: Path | str) -> torch.Tensor:
    if key not in tensors:
        raise UserError(f"{_named(source)} lacks tensor {key}")
    return tensors[key]


def _check_optimizer_state(
    optimizer: torch.optim.Optimizer, saved: Any, prefix: str, source: Path | str
) -> None:
    """The saved optimizer state has this optimizer's parameter groups, and each saved
    moment has its parameter's shape."""
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    state = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not isinstance(state, dict):
        raise _corrupt(source, "the optimizer state has no param_groups and state")
    if not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        raise _corrupt(source, "the optimizer's param_groups are malformed")
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in optimizer.param_groups]:
        raise _corrupt(source, "the optimizer's parameter groups differ from this run's")
    params = {
        index: param
        for saved_group, group in zip(groups, optimizer.param_groups, strict=True)
        for index, param in zip(saved_group["params"], group["params"], strict=True)
    }
    for index, moments in state.items():
        if index not in params or not isinstance(moments, dict):
            raise _corrupt(source, f"optimizer state for unknown parameter {index!r}")
        for name, value in moments.items():
            shape = params[index].shape
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != shape:
                raise UserError(
                    f"{_named(source)}: tensor {prefix}.state.{index}.{name} has shape "
                    f"{list(value.shape)} where this run needs {list(shape)}"
                )


def _encode(obj: Any, path: str, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of ``obj``; tensors go to ``tensors`` and leave a reference behind."""
    if isinstance(obj, torch.Tensor):
        tensors[f"{prefix}.{path}"] = obj.detach()
        return {_TENSOR: path}
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, _join(path, i), prefix, tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, _join(path, i), prefix, tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        # Optimizer state is keyed by parameter index; JSON would turn those ints into strings.
        if obj and all(isinstance(k, int) for k in obj):
            inner = {str(k): _encode(v, _join(path, k), prefix, tensors) for k, v in obj.items()}
            return {_INT_KEYS: inner}
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"cannot store dict with mixed key types at {path or '<root>'}")
        return {k: _encode(v, _join(path, k), prefix, tensors) for k, v in obj.items()}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {path or '<root>'} in a checkpoint")


def _decode(obj: Any, prefix: str, tensors: dict[str, torch.Tensor], source: Path | str) -> Any:
    def decode(value: Any) -> Any:
        return _decode(value, prefix, tensors, source)

    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if set(obj) == {_TENSOR}:
        return _require(tensors, f"{prefix}.{obj[_TENSOR]}", source)
    if set(obj) == {_TUPLE} and isinstance(obj[_TUPLE], list):
        return tuple(decode(v) for v in obj[_TUPLE])
    if set(obj) == {_INT_KEYS} and isinstance(obj[_INT_KEYS], dict):
        if not all(k.lstrip("-").isdigit() for k in obj[_INT_KEYS]):
            raise _corrupt(source, f"non-integer parameter index in {prefix}")
        return {int(k): decode(v) for k, v in obj[_INT_KEYS].items()}
    return {k: decode(v) for k, v in obj.items()}


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)
