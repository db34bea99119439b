"""Recipe search: how fast can TRM (and the matched direct transformer) learn to solve mazes?

A self-contained research script (it does not use the training engine, which is being
written in parallel) implementing the engine's deep-supervision semantics:

* a persistent batch of B rows; each optimizer step runs ONE segment (one model call);
* a row halts when its segment count reaches N_sup, or (halting on) when q_halt > 0 after
  its exploration minimum (p = 0.1 per step: a minimum of U{2..N_sup} segments); halted
  rows are replaced by fresh examples with a fresh carry at the next step;
* loss = mean over rows of the per-sequence weighted mean token cross-entropy (labels are
  the whole output grid) + halt_weight * BCE(q_halt, row exactly right);
* AdamW betas (0.9, 0.95), linear warmup then cosine to 0.1x, grad clip 1.0, optional EMA;
* evaluation: N_sup segments from a fresh carry, argmax, exact = MAZE.verify's exact.

Options beyond the engine's defaults (each a general engine option, named by its flag):
  --changed_weight w   cells whose label differs from the input weigh w (others 1)
  --mask_input_token t cells whose INPUT is token t (e.g. 1 = wall) weigh 0 in the loss
  --aug                random dihedral transform (8) of each fresh example
  --mixer conv|dwconv  prototype only: replace attention by a dense / depthwise 3x3 conv
                       token mixer on the grid (the model code itself is untouched)

Writes one JSON line per evaluation (and a final one) to --out.

Example:
  .venv/bin/python benchmarks/recipe_search.py --size 11 --hidden 64 --window 1 \
      --n 2 --T 1 --N_sup 8 --batch 64 --lr 2e-3 --steps 2000 --out scratch/r.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ponder.models import DataSpec, build_model, count_parameters
from ponder.models.base import carry_where
from ponder.models.transformer import TransformerConfig
from ponder.models.trm import TRMConfig
from ponder.tasks.maze import MAZE, PAD


# ----------------------------------------------------------------------------- data


def make_mazes(count: int, size: int, min_path: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` puzzles and oracle answers as int64 arrays (count, size, size)."""
    rng = np.random.default_rng(seed)
    puzzles = np.stack([MAZE.generate(rng, size=size, min_path=min_path) for _ in range(count)])
    answers = np.stack([MAZE.solve(p) for p in puzzles])
    return puzzles.astype(np.int64), answers.astype(np.int64)


def dihedral(grids: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Apply dihedral transform k[i] in 0..7 to grids[i] (B, H, W) (square grids)."""
    out = grids.clone()
    for t in range(1, 8):
        rows = k == t
        if rows.any():
            g = grids[rows]
            if t >= 4:
                g = g.transpose(1, 2)
            out[rows] = torch.rot90(g, t % 4, dims=(1, 2))
    return out


# ----------------------------------------------------------------------------- conv mixer


class ConvMixer(nn.Module):
    """Prototype token mixer: a 3x3 convolution over the grid in place of attention.
    Same call signature as layers.Attention (rotary and mask are ignored)."""

    def __init__(self, hidden: int, grid: tuple[int, int], depthwise: bool):
        super().__init__()
        self.grid = grid
        groups = hidden if depthwise else 1
        self.conv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=groups, bias=False)
        fan_in = 9 * hidden // groups
        nn.init.trunc_normal_(self.conv.weight, std=1 / math.sqrt(fan_in))
        self.out = nn.Linear(hidden, hidden, bias=False) if depthwise else None
        if self.out is not None:
            nn.init.trunc_normal_(self.out.weight, std=1 / math.sqrt(hidden))

    def forward(self, x, rotary=None, mask=None):
        b, seq, d = x.shape
        h, w = self.grid
        y = self.conv(x.transpose(1, 2).reshape(b, d, h, w)).reshape(b, d, seq).transpose(1, 2)
        return self.out(y) if self.out is not None else y


# ----------------------------------------------------------------------------- model


def build(args, spec: DataSpec) -> nn.Module:
    common = dict(
        hidden_size=args.hidden,
        num_heads=args.heads,
        num_layers=args.layers,
        expansion=args.expansion,
        ffn_multiple_of=16,
        pos_encoding=args.pos,
        attn_window=args.window,
        q_pool=args.q_pool,
        halt_bias_init=args.halt_bias,
    )
    if args.model == "trm":
        model = build_model(TRMConfig(n=args.n, T=args.T, **common), spec)
        trunk = model.net
    else:
        model = build_model(TransformerConfig(**common), spec)
        trunk = model.trunk
    if args.mixer != "attn":
        for block in trunk.blocks:
            block.attn = ConvMixer(args.hidden, spec.grid_shape, args.mixer == "dwconv")
        trunk.mask = None  # no mask to build for SDPA any more
    return model


class EMA:
    def __init__(self, model: nn.Module, rate: float):
        self.rate = rate
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = [p.detach() for p in model.parameters()]
        dst = list(self.shadow.parameters())
        torch._foreach_lerp_(dst, src, 1 - self.rate)


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model, inputs, labels, n_sup, device, batch=250, full_verify=False, extra=()):
    """Exact accuracy after 1..max(n_sup, extra) segments from a fresh carry."""
    model.eval()
    horizon = max([n_sup, *extra])
    per_seg_exact = np.zeros(horizon)
    cell_acc = path_recall = 0.0
    preds_final = []
    for i in range(0, len(inputs), batch):
        x = inputs[i : i + batch].to(device)
        y = labels[i : i + batch].to(device)
        carry = model.init_carry(len(x), device)
        for s in range(horizon):
            carry, out = model(carry, {"inputs": x})
            pred = out.logits.argmax(-1)
            per_seg_exact[s] += (pred == y).all(1).sum().item()
            if s == n_sup - 1:
                preds_final.append(pred.cpu())
                cell_acc += (pred == y).float().mean(1).sum().item()
                on_path = y == 5
                path_recall += ((pred == 5) & on_path).sum().item() / max(1, on_path.sum().item()) * len(x)
    model.train()
    n = len(inputs)
    res = {
        "exact": per_seg_exact[n_sup - 1] / n,
        "cell_acc": cell_acc / n,
        "path_recall": path_recall / n,
        "exact_by_segment": [round(v / n, 4) for v in per_seg_exact],
    }
    if full_verify:  # the real verifier (accepts any shortest route)
        side = int(math.isqrt(inputs.shape[1]))
        preds = torch.cat(preds_final).numpy().reshape(-1, side, side)
        puzzles = inputs.numpy().reshape(-1, side, side).astype(np.uint8)
        res["exact_verified"] = float(np.mean([MAZE.verify(p, a)["exact"] for p, a in zip(puzzles, preds)]))
    return res


# ----------------------------------------------------------------------------- training


def lr_at(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(args) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    size = args.size
    spec = DataSpec(vocab_size=6, seq_len=size * size, grid_shape=(size, size))

    t0 = time.time()
    tr_p, tr_a = make_mazes(args.train_n, size, args.min_path, seed=1000 + args.seed)
    te_p, te_a = make_mazes(args.eval_n, size, args.min_path, seed=7)  # fixed held-out set
    gen_s = time.time() - t0
    train_grids = torch.from_numpy(tr_p)
    train_labels = torch.from_numpy(tr_a)
    test_inputs = torch.from_numpy(te_p).reshape(len(te_p), -1)
    test_labels = torch.from_numpy(te_a).reshape(len(te_a), -1)

    model = build(args, spec).to(device)
    n_params = count_parameters(model)
    ema = EMA(model, args.ema) if args.ema > 0 else None
    decay = [p for n_, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n_]
    no_decay = [p for n_, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n_)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95),
    )

    out_f = open(args.out, "a") if args.out else None
    tag = args.tag or f"{args.model}-{args.mixer}-h{args.hidden}-w{args.window}-n{args.n}T{args.T}-N{args.N_sup}"

    def log(rec):
        rec = {"tag": tag, **rec}
        line = json.dumps(rec)
        print(line, flush=True)
        if out_f:
            out_f.write(line + "\n")
            out_f.flush()

    log({"event": "start", "params": n_params, "gen_s": round(gen_s, 1), "args": vars(args)})

    B = args.batch
    gen = torch.Generator().manual_seed(args.seed)
    carry = model.init_carry(B, device)
    cur_x = torch.zeros(B, spec.seq_len, dtype=torch.long, device=device)
    cur_y = torch.zeros_like(cur_x)
    seg = torch.zeros(B, dtype=torch.long, device=device)
    halted = torch.ones(B, dtype=torch.bool, device=device)
    examples = 0
    train_time = 0.0
    first_exact_step = None
    running = {"loss": 0.0, "train_exact": 0.0, "k": 0}
    best = 0.0

    for step in range(args.steps):
        ts = time.time()
        # ---- replace halted rows by fresh examples with a fresh carry
        if halted.any():
            rows = halted.nonzero().squeeze(1)
            idx = torch.randint(0, len(train_grids), (len(rows),), generator=gen)
            gx, gy = train_grids[idx], train_labels[idx]
            if args.aug:
                k = torch.randint(0, 8, (len(rows),), generator=gen)
                gx, gy = dihedral(gx, k), dihedral(gy, k)
            cur_x[rows] = gx.reshape(len(rows), -1).to(device)
            cur_y[rows] = gy.reshape(len(rows), -1).to(device)
            carry = carry_where(halted, model.init_carry(B, device), carry)
            seg[rows] = 0
            examples += len(rows)

        lr = lr_at(step, args)
        for group in opt.param_groups:
            group["lr"] = lr
        carry, out = model(carry, {"inputs": cur_x})
        seg += 1

        logits = out.logits.float()
        ce = F.cross_entropy(logits.transpose(1, 2), cur_y, reduction="none")  # (B, L)
        w = (cur_y != PAD).float()
        if args.changed_weight != 1.0:
            w = w * torch.where(cur_y != cur_x, args.changed_weight, 1.0)
        if args.mask_input_token >= 0:
            w = w * (cur_x != args.mask_input_token).float()
        seq_loss = (ce * w).sum(1) / w.sum(1).clamp_min(1e-6)
        with torch.no_grad():
            correct = ((logits.argmax(-1) == cur_y) | (cur_y == PAD)).all(1)
        halt_loss = F.binary_cross_entropy_with_logits(out.q_halt, correct.float())
        loss = seq_loss.mean() + args.halt_weight * halt_loss

        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if ema is not None:
            ema.update(model)

        with torch.no_grad():
            halted = seg >= args.N_sup
            if args.halting and args.N_sup > 1:
                explore = torch.rand(B, device=device) < 0.1
                min_seg = torch.where(
                    explore, torch.randint(2, args.N_sup + 1, (B,), device=device), torch.zeros_like(seg)
                )
                halted |= (out.q_halt > 0) & (seg >= min_seg)
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.time() - ts

        running["loss"] += loss.item()
        running["train_exact"] += correct.float().mean().item()
        running["k"] += 1
        if correct.any() and first_exact_step is None:
            first_exact_step = step

        last = step == args.steps - 1 or (args.budget_s and train_time >= args.budget_s)
        if (step + 1) % args.eval_every == 0 or last:
            te = time.time()
            ev = evaluate(
                ema.shadow if ema else model, test_inputs, test_labels, args.N_sup, device,
                full_verify=bool(last), extra=(2 * args.N_sup,) if last and args.model == "trm" else (),
            )
            best = max(best, ev["exact"])
            log({
                "event": "final" if last else "eval",
                "step": step + 1,
                "examples": examples,
                "train_s": round(train_time, 1),
                "ms_per_step": round(1000 * train_time / (step + 1), 1),
                "lr": round(lr, 6),
                "loss": round(running["loss"] / running["k"], 4),
                "train_exact": round(running["train_exact"] / running["k"], 4),
                "first_train_exact_step": first_exact_step,
                "eval_s": round(time.time() - te, 1),
                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in ev.items()},
            })
            running = {"loss": 0.0, "train_exact": 0.0, "k": 0}
            if args.target and ev["exact"] >= args.target and not args.no_stop:
                last = True
        if last:
            break
    if out_f:
        out_f.close()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    # task
    a("--size", type=int, default=11)
    a("--min_path", type=int, default=10)
    a("--train_n", type=int, default=20000)
    a("--eval_n", type=int, default=500)
    # model
    a("--model", choices=["trm", "transformer"], default="trm")
    a("--mixer", choices=["attn", "conv", "dwconv"], default="attn")
    a("--hidden", type=int, default=64)
    a("--heads", type=int, default=4)
    a("--layers", type=int, default=2)
    a("--expansion", type=float, default=4.0)
    a("--pos", choices=["rope", "rope2d", "learned", "none"], default="rope2d")
    a("--window", type=int, default=1)
    a("--n", type=int, default=2)
    a("--T", type=int, default=1)
    a("--q_pool", choices=["first", "mean"], default="mean")
    a("--halt_bias", type=float, default=-5.0)
    # training
    a("--N_sup", type=int, default=8)
    a("--halting", type=int, default=0)
    a("--halt_weight", type=float, default=0.5)
    a("--batch", type=int, default=64)
    a("--lr", type=float, default=2e-3)
    a("--warmup", type=int, default=100)
    a("--wd", type=float, default=0.1)
    a("--ema", type=float, default=0.0)
    a("--changed_weight", type=float, default=1.0)
    a("--mask_input_token", type=int, default=-1)
    a("--aug", type=int, default=0)
    a("--steps", type=int, default=2000)
    a("--budget_s", type=float, default=0.0, help="stop after this much training time")
    a("--eval_every", type=int, default=250)
    a("--target", type=float, default=0.0, help="stop once held-out exact reaches this")
    a("--no_stop", action="store_true")
    # system
    a("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a("--threads", type=int, default=int(os.environ.get("THREADS", "2")))
    a("--seed", type=int, default=0)
    a("--out", default="")
    a("--tag", default="")
    return p.parse_args(argv)


if __name__ == "__main__":
    train(parse_args(sys.argv[1:]))
