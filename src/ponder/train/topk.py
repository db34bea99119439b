"""Keep the k checkpoints with the lowest validation loss (the sequence-model scripts'
"top 3 by val_loss plus last"), named checkpoints/val-<step>.safetensors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ponder.train import checkpoint as ckpt


class TopCheckpoints:
    def __init__(self, directory: Path, k: int):
        self.directory, self.k = Path(directory), k
        self.kept: list[tuple[float, int]] = []  # (val_loss, step), best first

    def path(self, step: int) -> Path:
        return self.directory / f"val-{step:07d}.safetensors"

    def offer(self, step: int, val_loss: float | None, tensors_and_state: Callable) -> bool:
        """Save this step's checkpoint if its loss is among the k lowest; drop the one it
        displaces. Returns whether it was kept."""
        if self.k == 0 or val_loss is None:
            return False
        if len(self.kept) == self.k and val_loss >= self.kept[-1][0]:
            return False
        tensors, state = tensors_and_state()
        self.directory.mkdir(parents=True, exist_ok=True)
        ckpt.save_checkpoint(self.path(step), tensors, state)
        self.kept = sorted([*self.kept, (float(val_loss), step)])
        for _, dropped in self.kept[self.k :]:
            self.path(dropped).unlink(missing_ok=True)
        self.kept = self.kept[: self.k]
        return True

    def state(self) -> list[list[float]]:
        return [[loss, step] for loss, step in self.kept]

    def load(self, state: list) -> None:
        self.kept = [(float(loss), int(step)) for loss, step in state]
