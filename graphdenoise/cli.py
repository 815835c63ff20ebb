r"""The command line: ``graphdenoise fit ...``, ``graphdenoise recommend ...``, ``graphdenoise
describe ...``, ``graphdenoise list [--options NAME]``, ``graphdenoise tune ...``, ``graphdenoise
experiment ...`` (:mod:`graphdenoise.experiments.cli`).

Start-up rule: this module imports only the standard library and torch-free helpers at module level;
help, ``list`` and argument errors never import torch (names come from :mod:`graphdenoise.catalog`,
the trainer options of ``fit --help`` from :class:`~graphdenoise.train.TrainerConfig`'s source through
:mod:`graphdenoise.config_help`); each command imports what it needs inside its branch (see
:mod:`graphdenoise._lazy`).
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from .config_help import OptionDoc, options_from_source
from .runconfig import CLI_KEYS, DATASET_FLAGS

#: Where the trainer options of ``fit --help`` come from (read with :mod:`ast`, not imported).
TRAINER_CONFIG_SOURCE = (Path(__file__).resolve().parent / "train" / "trainer.py", "TrainerConfig")
#: Trainer fields not offered as ``fit`` flags (``--quiet`` and the automatic default set it).
_HIDDEN_TRAINER_FIELDS = ("show_progress",)


def _parse_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return key.replace("-", "_"), parsed


def _int_list(text: str):
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _argument_kind(annotation: str) -> Dict[str, Any]:
    """argparse keywords for a config field's annotation (``Optional[X]`` as ``X``)."""
    inner = re.fullmatch(r"Optional\[(.+)\]", annotation)
    inner = inner.group(1) if inner else annotation
    if inner == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if re.fullmatch(r"(Sequence|Tuple|List|tuple|list)\[int.*\]", inner):
        return {"type": _int_list, "metavar": "K,K,..."}
    if inner in ("int", "float"):
        return {"type": {"int": int, "float": float}[inner], "metavar": inner.upper()}
    return {"type": str, "metavar": "STR"}


def trainer_options() -> List[OptionDoc]:
    """The documented fields of :class:`~graphdenoise.train.TrainerConfig` offered by ``fit``."""
    path, name = TRAINER_CONFIG_SOURCE
    return [o for o in options_from_source(str(path), name) if o.name not in _HIDDEN_TRAINER_FIELDS]


def add_config_arguments(parser, options: List[OptionDoc]) -> None:
    r"""One ``--flag`` per config field, with its attribute docstring and default as the help; the
    argparse default is :obj:`None` so only the flags a user gives override the config."""
    for option in options:
        help_text = option.doc.replace("%", "%%") + f" (default: {option.default})"
        parser.add_argument("--" + option.name.replace("_", "-"), dest=option.name, default=None, help=help_text,
                            **_argument_kind(option.type))


def _add_dataset_arguments(parser) -> None:
    parser.add_argument("--dataset", default=None, metavar="NAME|FILE",
                        help="a registered dataset (graphdenoise list) or the path of your own CSV/TSV file: "
                             "'user item [rating] [timestamp]' without a header, or named columns with one "
                             "(default: synthetic)")
    parser.add_argument("--data-dir", default=None, help="folder of raw files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--dataset-option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                        help="dataset loader option, e.g. --dataset-option min_interactions=10")
    group = parser.add_argument_group("your own interaction file (also rating_threshold for ml-100k)")
    for key, (_, help_text) in DATASET_FLAGS.items():
        kind = {"header": {"action": argparse.BooleanOptionalAction},
                "rating_threshold": {"type": float}, "min_interactions": {"type": int}}.get(key, {})
        group.add_argument("--" + key.replace("_", "-"), dest=key, default=None, help=help_text, **kind)


def _add_fit_parser(sub) -> None:
    fit = sub.add_parser("fit", help="train and evaluate a recommender",
                         description="Train and evaluate a recommender. Options come from the flags below, "
                                     "a --config file, or both (flags win).")
    fit.add_argument("--config", default=None, metavar="FILE",
                     help="a YAML/JSON run config with the same keys as these flags (and -o options), or a "
                          "result JSON written by --out, to repeat that run")
    _add_dataset_arguments(fit)
    fit.add_argument("--model", default=None, help="backbone name (default: lightgcn)")
    fit.add_argument("--method", default=None, help="training method (default: bpr)")
    fit.add_argument("--out", default=None, help="write metrics, the resolved config and history as JSON here")
    fit.add_argument("--save", default=None, help="write the trained model here (graphdenoise recommend and "
                                                  "graphdenoise.load read it)")
    fit.add_argument("--noisy-positives", type=float, default=None, help="inject this ratio of noisy positives")
    fit.add_argument("--noisy-negatives", type=float, default=None, help="flip this ratio of positives")
    fit.add_argument("--option", "-o", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                     help="any model or method option, e.g. -o num_layers=2 -o drop_rate=0.1 "
                          "(graphdenoise list --options NAME lists them)")
    fit.add_argument("--quiet", action="store_true", help="no progress display")
    fit.add_argument("--log-dir", default=None, help="TensorBoard event files and log.csv here (needs [track])")
    fit.add_argument("--mlflow", action="store_true", help="also log to MLflow (needs [mlflow])")
    add_config_arguments(fit.add_argument_group("trainer options (TrainerConfig)"), trainer_options())


def _add_recommend_parser(sub) -> None:
    rec = sub.add_parser("recommend", help="top-k items for users of a saved model, in your ids",
                         description="Recommend with a model written by 'graphdenoise fit --save'. User and item "
                                     "ids are those of your data (raw ids); training items are left out.")
    rec.add_argument("--model", required=True, metavar="FILE", help="a result written by fit --save")
    rec.add_argument("--users", default=None, help="comma-separated user ids, e.g. 1,2,3")
    rec.add_argument("--users-file", default=None, help="a file of user ids, one per line (or separated by "
                                                        "commas/whitespace)")
    rec.add_argument("-k", type=int, default=10, help="items per user (default: 10)")
    rec.add_argument("--internal-ids", action="store_true", help="take and print the model's 0..n-1 ids")
    rec.add_argument("--include-train", action="store_true", help="also recommend the user's training items")
    rec.add_argument("--out", default=None, help="write user,rank,item CSV here (default: print it)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphdenoise", description="Denoising recommenders on PyTorch Geometric")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fit_parser(sub)
    _add_recommend_parser(sub)

    describe = sub.add_parser("describe", help="print a dataset's statistics")
    _add_dataset_arguments(describe)
    describe.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")

    listing = sub.add_parser("list", help="list datasets, models and methods, or one's options")
    listing.add_argument("--options", default=None, metavar="NAME",
                         help="a method or model name (e.g. til-ui, lightgcn) or 'trainer': its options with "
                              "types, defaults and descriptions")

    from .experiments.cli import add_parser as add_experiment_parser
    add_experiment_parser(sub)
    from .tune import add_parser as add_tune_parser
    add_tune_parser(sub)
    return parser


def _metrics_table(metrics: dict) -> str:
    names = list(next(iter(metrics.values())).keys())
    lines = [f"{'metric':<14}" + "".join(f"{split:>10}" for split in metrics)]
    for name in names:
        lines.append(f"{name:<14}" + "".join(f"{metrics[split][name]:>10.4f}" for split in metrics))
    return "\n".join(lines)


def _fail(message: str) -> int:
    print(f"graphdenoise: error: {message}", file=sys.stderr)
    return 2


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args)
        if args.command == "experiment":
            from .experiments.cli import main as experiment_main
            return experiment_main(args, argv)
        if args.command == "tune":
            from .tune import main as tune_main
            return tune_main(args)
        if args.command == "describe":
            from .datasets import describe, load_dataset
            data = load_dataset(args.dataset or "synthetic", data_dir=args.data_dir, seed=args.seed,
                                **_dataset_options(args))
            describe(data, name=args.dataset or "synthetic", file=sys.stdout)
            _print_dataset_note(args.dataset or "synthetic")
            return 0
        if args.command == "recommend":
            return _recommend(args)
        _check_names(args)
        return _fit(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # outside training (loading data, a sequence model, a second Ctrl-C)
        print("graphdenoise: interrupted", file=sys.stderr, flush=True)
        return 130


def _list(args) -> int:
    if args.options is None:
        from . import catalog  # names only: no torch import (see graphdenoise/_lazy.py)
        print("datasets:", ", ".join(catalog.DATASETS), "| or the path of a CSV/TSV file")
        print("models:  ", ", ".join(catalog.MODELS), "| sequence models:", ", ".join(catalog.SEQUENCE_MODELS))
        print("methods: ", ", ".join(catalog.METHODS), "| sequence methods:", ", ".join(catalog.SEQUENCE_METHODS))
        print("options: graphdenoise list --options NAME (a model, a method or 'trainer')")
        return 0
    from . import METHODS, MODELS
    from .sequential import SEQUENCE_METHODS, SEQUENCE_MODELS
    from .config_help import format_options, options_of
    name = args.options
    if name.lower() == "trainer":
        from .train import TrainerConfig
        print(format_options(options_of(TrainerConfig), "trainer options (TrainerConfig; every model and method)"))
        return 0
    found = [(kind, registry.get(name)) for kind, registry in (("model", MODELS), ("method", METHODS),
             ("sequence model", SEQUENCE_MODELS), ("sequence method", SEQUENCE_METHODS)) if name in registry]
    if not found:
        every = MODELS.names() + METHODS.names() + SEQUENCE_MODELS.names() + SEQUENCE_METHODS.names()
        raise ValueError(f"unknown model or method {name!r}; valid: trainer, {', '.join(every)}")
    for kind, cls in found:
        print(format_options(options_of(cls.Config), f"{kind} {name.lower()} ({cls.Config.__name__}):"))
    return 0


def _print_dataset_note(name: str) -> None:
    from .datasets import DATASETS
    note = getattr(DATASETS.get(name), "describe_note", None) if name in DATASETS else None
    if note:
        print(f"note: {note}")


def _dataset_options(args) -> Dict[str, Any]:
    from .runconfig import dataset_options_from_flags
    flags = {key: getattr(args, key) for key in DATASET_FLAGS}
    return dataset_options_from_flags(flags, dict(args.dataset_option))


def _command_line_run(args) -> Dict[str, Any]:
    """The options given on the command line (flags left at their None default are not given)."""
    run: Dict[str, Any] = {}
    for key in ("dataset", "model", "method", "data_dir", "noisy_positives", "noisy_negatives") + CLI_KEYS:
        if getattr(args, key) is not None:
            run[key] = getattr(args, key)
    for option in trainer_options():
        if getattr(args, option.name) is not None:
            run[option.name] = getattr(args, option.name)
    dataset_options = _dataset_options(args)
    if dataset_options:
        run["dataset_options"] = dataset_options
    run.update(dict(args.option))
    return run


def _merge_runs(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    merged = {**base, **override}
    if "dataset_options" in base and "dataset_options" in override:
        merged["dataset_options"] = {**base["dataset_options"], **override["dataset_options"]}
    return merged


def _check_names(args) -> None:
    """Unknown model / method names fail before torch is imported (the registry's error message)."""
    from . import catalog
    for kind, name, valid in (("model", args.model, catalog.MODELS + catalog.SEQUENCE_MODELS),
                              ("method", args.method, catalog.METHODS + catalog.SEQUENCE_METHODS)):
        if name is not None and name.lower() not in valid:  # None: the default or the --config file's
            raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def _fit(args) -> int:
    from .runconfig import check_run_config, read_run_config
    run = _command_line_run(args)
    if args.config:
        run = _merge_runs(read_run_config(args.config), run)
    run = check_run_config(run, where=args.config or "command line")
    outputs = {key: run.pop(key, None) for key in CLI_KEYS}
    if outputs["save"]:
        from .sequential import SEQUENCE_MODELS
        if run.get("model") in SEQUENCE_MODELS:  # found out before training, not after
            raise ValueError(f"--save supports the graph backbones; for the sequence model {run['model']!r} "
                             "use --out (metrics and config as JSON)")
    is_main = True
    if run.get("distributed"):
        from .distributed import init_from_env
        is_main = init_from_env(run.get("device")).is_main
    show = run.pop("show_progress", None)
    from .api import fit
    from .train.interrupt import TrainingInterrupted
    from .train.tracking import tracking_callbacks
    csv_log = os.path.splitext(outputs["out"])[0] + ".log.csv" \
        if outputs["out"] and run.get("checkpoint_dir") is None else None
    name = f"{Path(str(run.get('dataset', 'synthetic'))).stem}-{run.get('model', 'lightgcn')}-{run.get('method', 'bpr')}"
    callbacks = tracking_callbacks(args.log_dir, args.mlflow, csv_log, name) if is_main else []
    try:
        result = fit(**run, show_progress=not args.quiet and is_main and show is not False, callbacks=callbacks)
    except TrainingInterrupted as stop:
        if stop.result is not None and is_main:
            _write_results(outputs, stop.result)
        print(f"graphdenoise: {_resume_hint(stop)}", file=sys.stderr, flush=True)
        return stop.exit_code
    if not is_main:
        return 0
    cfg = result.config
    print(f"\n{cfg['dataset']} / {cfg['model']} / {cfg['method']}: best validation epoch {result.best_epoch}, "
          f"{result.seconds:.1f}s")
    print(_metrics_table(result.metrics))
    _write_results(outputs, result)
    return 0


def _resume_hint(stop) -> str:
    """One line: where the interrupted run stopped and the command line that continues it."""
    import signal
    head = f"interrupted by {signal.Signals(stop.signum).name}"
    if stop.checkpoint is None:
        return f"{head}; no checkpoint folder was set (--checkpoint-dir or --resume), so the run cannot be resumed"
    folder = os.path.dirname(stop.checkpoint)
    return (f"{head}; checkpoint {stop.checkpoint} holds epoch {stop.checkpoint_epoch}: resume by running the same "
            f"command with --resume --checkpoint-dir {folder}")


def _write_results(outputs: Dict[str, Any], result) -> None:
    """``--out`` (metrics, config, history as JSON) and ``--save`` (the model) of ``result``."""
    if outputs["out"]:
        result.save_json(outputs["out"])
        print(f"wrote {outputs['out']}")
    if outputs["save"]:
        result.save(outputs["save"])
        print(f"wrote {outputs['save']}")


def _read_user_ids(args) -> List[int]:
    texts = []
    if args.users:
        texts.append(("--users", args.users))
    if args.users_file:
        path = Path(args.users_file)
        if not path.is_file():
            raise FileNotFoundError(f"--users-file {str(path)!r} does not exist")
        texts.append((str(path), path.read_text(encoding="utf-8")))
    if not texts:
        raise ValueError("give the users to recommend for: --users 1,2,3 or --users-file FILE")
    users: List[int] = []
    for where, text in texts:
        for token in re.split(r"[,\s]+", text.strip()):
            if not token:
                continue
            if not re.fullmatch(r"[+-]?\d+", token):
                raise ValueError(f"{where}: user id {token!r} is not an integer")
            users.append(int(token))
    return users


def _recommend(args) -> int:
    users = _read_user_ids(args)
    from .api import load
    result = load(args.model)
    items = result.recommend(users, args.k, raw_ids=not args.internal_ids, exclude_train=not args.include_train)
    lines = ["user,rank,item"]
    for user, row in zip(users, items.tolist()):
        lines.extend(f"{user},{rank},{item}" for rank, item in enumerate(row, start=1))
    text = "\n".join(lines) + "\n"
    if args.out:
        from .train import atomic_write_text
        atomic_write_text(text, args.out)
        print(f"wrote {len(users)} users x {args.k} items to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
