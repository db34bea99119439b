"""The peer's side of benchmarks/peer_step.py, run by the peer's own virtual environment:
times training steps of lucidrains' tiny-recursive-model (TinyRecursiveModel with an
x-transformers Encoder) and prints one JSON line. It imports nothing from ponder.

    PEER_PYTHON benchmarks/peer_trm_child.py --batch 64 --seq-len 81 --precision bf16 ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def build_peer(args: argparse.Namespace) -> torch.nn.Module:
    """The peer at ponder's setting: its model around a 2-layer x-transformers encoder
    (pre-norm, as x-transformers builds it) with RMSNorm, rotary positions and a SwiGLU of
    the same inner width as ponder's."""
    from tiny_recursive_model import TinyRecursiveModel
    from x_transformers import Encoder

    network = Encoder(
        dim=args.hidden,
        depth=args.layers,
        heads=args.heads,
        attn_dim_head=args.hidden // args.heads,
        ff_mult=args.ffn_inner / args.hidden,
        ff_glu=True,
        ff_swish=True,
        use_rmsnorm=True,
        rotary_pos_emb=True,
    )
    return TinyRecursiveModel(
        dim=args.hidden,
        num_tokens=args.vocab,
        network=network,
        num_refinement_blocks=args.T,
        num_latent_refinements=args.n,
    )


def count_step_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of `step` (matmuls and attention, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def time_steps(step: Callable[[], object], warmup: int, steps: int) -> list[float]:
    """Seconds of each of `steps` calls of `step` after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def make_step(model, seq, labels, precision: str) -> Callable[[], None]:
    """One training step of the peer as its README trains it: forward with labels (its
    deep refinement, loss and halting loss), backward, an optimizer step; the returned
    outputs and latents carry over to the next step (deep supervision)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    outputs, latents = model.get_initial()
    state = {"outputs": outputs, "latents": latents}
    bf16 = precision == "bf16"

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _, out, lat, _, _ = model(seq, state["outputs"], state["latents"], labels=labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["outputs"], state["latents"] = out, lat

    return step


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    numbers = {"hidden": 256, "layers": 2, "heads": 8, "ffn-inner": 768, "T": 3, "n": 6}
    numbers.update({"batch": 64, "seq-len": 81, "vocab": 11, "steps": 3, "warmup": 1})
    for key, default in {**numbers, "threads": 0}.items():
        parser.add_argument(f"--{key}", type=int, default=default)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_peer(args)
    seq = torch.randint(1, args.vocab, (args.batch, args.seq_len))
    labels = torch.randint(1, args.vocab, (args.batch, args.seq_len))
    step = make_step(model, seq, labels, args.precision)
    times = time_steps(step, args.warmup, args.steps)
    result = {
        "ms_per_step": 1e3 * statistics.median(times),
        "times_ms": [1e3 * t for t in times],
        "flops_per_step": count_step_flops(step),
        "params": sum(p.numel() for p in model.parameters()),
        "precision": args.precision,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
