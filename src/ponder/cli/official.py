"""`ponder import hrm|trm CHECKPOINT` and `ponder export hrm|trm RUN`: official HRM and TRM
checkpoints (sapientinc/HRM, SamsungSAILMontreal/TinyRecursiveModels) in and out of ponder."""

from __future__ import annotations

from pathlib import Path

from ponder.cli.args import input_path, positive_count

OFFICIAL_MODELS = ("hrm", "trm")


def add_official_parsers(sub) -> None:
    imp = sub.add_parser("import", help="an official HRM/TRM checkpoint as a ponder run")
    imp.add_argument("model", choices=OFFICIAL_MODELS)
    imp.add_argument("checkpoint", type=input_path, help="pretrain.py's weights file (step_<N>)")
    imp.add_argument("--config", type=input_path, default=None, metavar="FILE",
                     help="its all_config.yaml (default: the one beside CHECKPOINT)")  # fmt: skip
    imp.add_argument("--data", type=input_path, required=True, metavar="DIR",
                     help="the dataset to judge or fine-tune on; it must fit the weights")  # fmt: skip
    imp.add_argument("--task", default=None,
                     help="the dataset's task when it has no ponder.json (an HRM/TRM build)")  # fmt: skip
    imp.add_argument("--steps", type=positive_count, default=None, metavar="N",
                     help="train.steps of a fine-tuning by `ponder train --resume RUN` "
                     "(default: the config's epochs on this dataset, as pretrain.py counts)")  # fmt: skip
    imp.add_argument("--out", type=input_path, required=True, metavar="RUN")
    imp.add_argument("--overwrite", action="store_true", help="replace a run at --out")
    imp.set_defaults(handler=_import)
    exp = sub.add_parser("export", help="a ponder HRM/TRM run as an official checkpoint")
    exp.add_argument("model", choices=OFFICIAL_MODELS)
    exp.add_argument("run_dir", type=input_path, metavar="RUN")
    exp.add_argument("--out", type=input_path, required=True, metavar="DIR")
    exp.add_argument("--overwrite", action="store_true", help="replace an export at --out")
    exp.set_defaults(handler=_export)


def _import(args) -> int:
    from ponder.official import import_checkpoint

    done = import_checkpoint(
        args.model, args.checkpoint, args.data, args.out, config_file=args.config,
        task=args.task, steps=args.steps, overwrite=args.overwrite,
    )  # fmt: skip
    print(f"imported official {done.model} ({done.parameters:,} parameters) as run {done.run_dir}")
    print(f"judge it: ponder eval {done.run_dir}; fine-tune it: ponder train --resume "
          f"{done.run_dir} ({done.steps} steps)")  # fmt: skip
    _print_notes("official settings not carried over", done.not_carried)
    return 0


def _export(args) -> int:
    from ponder.official import export_run

    done = export_run(args.model, args.run_dir, args.out, overwrite=args.overwrite)
    print(f"exported {done.source} as {done.weights} and {Path(done.out) / 'all_config.yaml'}")
    _print_notes("run settings all_config.yaml cannot hold", done.notes)
    return 0


def _print_notes(title: str, notes: list[str]) -> None:
    if notes:
        print(f"{title}: " + "; ".join(notes))
