"""The puzzle-embedding optimizer at ARC scale: one update of a table of ~1M identifiers
from a batch of 768 rows, sparse (this project's optimizer) against a dense reference
(the table as an nn.Parameter with torch's AdamW, which touches and keeps state for every
row). Reports ms per update and the extra memory each keeps.

    .venv/bin/python benchmarks/puzzle_emb.py [--rows 1000000] [--dim 512] [--batch 768]
        [--out runs/puzzle_emb]

Writes <out>/results.json and <out>/table.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ponder.models.embedding import PuzzleEmbedding
from ponder.train.sparse_emb import SparseEmbeddingOptimizer


class _Holder(torch.nn.Module):
    def __init__(self, table: torch.nn.Module):
        super().__init__()
        self.table = table


def time_sparse(rows: int, dim: int, batch: int, kind: str, repeats: int) -> float:
    emb = PuzzleEmbedding(rows, dim, 1, dim)
    opt = SparseEmbeddingOptimizer(_Holder(emb), kind=kind, lr=1e-2, weight_decay=0.1)
    times = []
    for _ in range(repeats):
        ids = torch.randint(0, rows, (batch,))
        emb(ids).square().sum().backward()
        start = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def time_dense(rows: int, dim: int, batch: int, repeats: int) -> float:
    table = torch.nn.Parameter(torch.zeros(rows, dim))
    opt = torch.optim.AdamW([table], lr=1e-2, weight_decay=0.1)
    times = []
    for _ in range(repeats):
        ids = torch.randint(0, rows, (batch,))
        torch.nn.functional.embedding(ids, table).square().sum().backward()
        start = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/puzzle_emb"))
    args = parser.parse_args()
    table_mb = args.rows * args.dim * 4 / 2**20
    result = {
        "benchmark": "puzzle_emb",
        "rows": args.rows,
        "dim": args.dim,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "table_mb": table_mb,
        "sparse_signsgd_ms": time_sparse(args.rows, args.dim, args.batch, "signsgd", args.repeats),
        "sparse_signsgd_state_mb": 0.0,
        "sparse_adamw_ms": time_sparse(args.rows, args.dim, args.batch, "adamw", args.repeats),
        "sparse_adamw_state_mb": 2 * table_mb,
        "dense_adamw_ms": time_dense(args.rows, args.dim, args.batch, args.repeats),
        "dense_adamw_state_mb": 3 * table_mb,  # two moments and a full-table gradient
    }
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    text = format_results(result)
    (args.out / "table.md").write_text(text + "\n")
    print(text)


def format_results(result: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py renders the docs' copy
    with it): each update's time and the state it keeps beside the table."""
    rows = [
        ("sparse SignSGD (the papers' choice)", "sparse_signsgd"),
        ("sparse lazy AdamW (`puzzle_emb_optimizer: adamw`)", "sparse_adamw"),
        ("dense AdamW over the table as a parameter (reference)", "dense_adamw"),
    ]
    lines = [
        f"| update ({result['rows']:,} x {result['dim']} table, batch {result['batch']}) "
        "| ms per update | extra state kept |",
        "|---|---|---|",
    ]
    for label, key in rows:
        lines.append(
            f"| {label} | {result[f'{key}_ms']:,.1f} | {_size(result[f'{key}_state_mb'])} |"
        )
    return "\n".join(lines)


def _size(mib: float) -> str:
    if not mib:
        return "none"
    return f"{mib:.1f} MiB" if mib < 1024 else f"{mib / 1024:.1f} GiB"


if __name__ == "__main__":
    main()
