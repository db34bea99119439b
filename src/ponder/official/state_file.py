"""The official checkpoint file: a state dict written by torch.save (pretrain.py's
`step_<N>`), read without running any code and written atomically."""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ponder.errors import UserError
from ponder.fileio import atomic_output

# torch's weights_only refusal of a pickle that names a class or function to call.
_NEEDS_CODE = re.compile(r"Unsupported global: GLOBAL (\S+)")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in an official checkpoint file. torch.load runs with weights_only, so
    a pickle that names code (a class, a function) is refused, never run; anything but a
    mapping of names to tensors is refused too, naming the first odd entry."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"checkpoint {path} is a directory; give the weights file (step_<N>)")
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        code = _NEEDS_CODE.search(str(err))
        if code:
            raise UserError(
                f"checkpoint {path} needs code to load ({code[1]}); ponder reads only "
                "tensors (torch.load weights_only) and will not run it"
            ) from None
        raise _not_a_checkpoint(path) from None
    except Exception:  # any other parse failure of an untrusted file: not a torch.save file
        raise _not_a_checkpoint(path) from None
    return _checked_state(loaded, path)


def _not_a_checkpoint(path: Path) -> UserError:
    return UserError(f"checkpoint {path} is not a file torch.save wrote (or it is truncated)")


def _checked_state(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """`loaded` as a state dict: a non-empty mapping of string keys to tensors."""
    if not isinstance(loaded, Mapping):
        raise UserError(
            f"checkpoint {path} holds a {type(loaded).__name__}, not a state dict of tensors"
        )
    if not loaded:
        raise UserError(f"checkpoint {path} holds an empty state dict")
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            what = type(value).__name__
            raise UserError(
                f"checkpoint {path}: entry {key!r} is a {what}, not a tensor: not a state dict"
            )
    return dict(loaded)


def write_state_dict(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """torch.save `state` (contiguous CPU tensors) to `path` through a temporary sibling."""
    tensors = {key: tensor.detach().cpu().contiguous() for key, tensor in state.items()}
    with atomic_output(Path(path)) as tmp:
        torch.save(tensors, tmp)
