"""`ponder config keys`, `ponder bench step`, `ponder parity` and `ponder demo`."""

from __future__ import annotations

import json
from pathlib import Path

from ponder.cli.args import Parser, output_path
from ponder.errors import UserError
from ponder.fileio import check_output_file


def add_config_parser(sub) -> None:
    config = sub.add_parser("config", help="the config reference").add_subparsers(
        metavar="WHAT", parser_class=Parser
    )
    keys = config.add_parser(
        "keys", help="every config key: type, default, description, who uses its section"
    )
    keys.add_argument(
        "--markdown", action="store_true", help="markdown tables (as in docs/config.md)"
    )
    keys.set_defaults(handler=_config_keys)


def _config_keys(args) -> int:
    from ponder.config_reference import format_markdown, format_text

    print(format_markdown() if args.markdown else format_text(), end="")
    return 0


def add_bench_parser(sub) -> None:
    bench = sub.add_parser("bench", help="speed benchmarks").add_subparsers(
        metavar="WHAT", parser_class=Parser
    )
    step = bench.add_parser("step", help="time training steps of a config")
    step.add_argument("config")
    step.add_argument("overrides", nargs="*")
    step.add_argument("--steps", type=int, default=10)
    step.add_argument("--warmup", type=int, default=3)
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=_bench_step)


def _bench_step(args) -> int:
    from ponder.config import load_config
    from ponder.train.benchstep import bench_step

    result = bench_step(load_config(args.config, args.overrides), args.warmup, args.steps)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.format())
    return 0


def add_parity_parser(sub) -> None:
    parity = sub.add_parser(
        "parity", help="resize a candidate config to a reference config's parameter count"
    )
    parity.add_argument("reference", help="config of the model to match")
    parity.add_argument("candidate", help="config of the model to resize")
    parity.add_argument("--hold", choices=["depth", "width"], default="depth",
                        help="keep the candidate's depth and search width (default), or the reverse")  # fmt: skip
    parity.add_argument("--tolerance", type=float, default=0.10)
    parity.add_argument("--accept-closest", action="store_true")
    parity.add_argument("--out", help="write the resized candidate config here")
    parity.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parity.set_defaults(handler=_parity)


def _parity(args) -> int:
    import yaml

    from ponder.config import config_from_dict, dump_config, load_config
    from ponder.fileio import atomic_write_text
    from ponder.parity import match_parameters
    from ponder.runs import open_run_data

    if not 0 < args.tolerance < 1:
        raise UserError(f"--tolerance must be between 0 and 1, got {args.tolerance}")
    args.out = output_path(args.out, "--out")
    if args.out is not None:
        inputs = (Path(args.reference), Path(args.candidate))
        check_output_file(args.out, "--out", overwrite=args.overwrite, inputs=inputs)
        if not args.out.parent.is_dir():
            raise UserError(f"--out directory not found: {args.out.parent}")
    reference, candidate = load_config(args.reference), load_config(args.candidate)
    spec = open_run_data(candidate)[0].spec
    result = match_parameters(
        reference.model, candidate.model, spec, hold=args.hold, tolerance=args.tolerance,
        accept_closest=args.accept_closest,
    )  # fmt: skip
    print(
        f"reference {reference.model.name}: {result.reference_params:,} parameters; "
        f"candidate {candidate.model.name} with {result.changed}: "
        f"{result.candidate_params:,} ({100 * result.relative_gap:+.1f}%)"
    )
    if args.out:
        raw = yaml.safe_load(dump_config(candidate))
        raw["model"] = result.candidate.model_dump(mode="json")
        atomic_write_text(args.out, dump_config(config_from_dict(raw)))
        print(f"wrote {args.out}")
    return 0


def demo_command(args) -> int:
    from ponder.demo import run_demo

    run_demo(args.config)
    return 0
