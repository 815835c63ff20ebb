r"""One run, one file: ``graphdenoise fit --config run.yaml`` and the resolved config that every
result embeds so the run can be repeated from its output.

A run config is a flat mapping with the **same keys** as the command line (dashes or underscores)
and as :func:`graphdenoise.fit`'s keyword arguments::

    # run.yaml
    dataset: ratings.csv        # a registered name or a CSV/TSV file
    rating_col: stars           # file options, as --rating-col (or inside dataset_options)
    rating_threshold: 4
    model: lightgcn
    method: tce
    epochs: 100
    lr: 0.005                   # any TrainerConfig, model or method field by name
    drop_rate: 0.2
    out: result.json            # command-line only: where to write the result

Unknown keys are refused by name with the valid ones listed; values are checked by constructing
the typed configs (:class:`~graphdenoise.train.TrainerConfig`, the model's and the method's
``Config``) before any data is read. A result JSON written by ``fit --out`` (or
:meth:`~graphdenoise.api.FitResult.save_json`) is itself a valid ``--config``: its
``config["run"]`` holds the resolved run, every option at its used value.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

#: Keyword arguments of :func:`graphdenoise.fit` (besides the config fields routed by name).
FIT_KEYS = ("dataset", "model", "method", "epochs", "device", "seed", "data_dir", "dataset_options",
            "noisy_positives", "noisy_negatives", "show_progress", "distributed")
#: Keys of the command line only: where ``graphdenoise fit`` writes its outputs.
CLI_KEYS = ("out", "save")
#: Config fields that say how a run executes, not what it computes; left out of ``config["run"]``.
EXECUTION_KEYS = ("show_progress", "resume", "checkpoint_dir", "distributed")

#: Command-line file options (``--user-col`` ...) -> their :func:`~graphdenoise.datasets.from_interactions`
#: argument and help. ``columns.<role>`` entries build the ``columns`` mapping of a file with a header.
DATASET_FLAGS: Dict[str, tuple] = {
    "user_col": ("columns.user", "column of user ids in a file with a header line (default: user)"),
    "item_col": ("columns.item", "column of item ids (default: item)"),
    "rating_col": ("columns.rating", "column of ratings (default: rating, used if present)"),
    "timestamp_col": ("columns.timestamp", "column of integer timestamps (default: timestamp, used if present)"),
    "columns": ("columns", "role of each column of a file WITHOUT a header, comma-separated, _ to skip "
                           "(default: user,item[,rating[,timestamp]])"),
    "sep": ("delimiter", r"column separator: ',', '\t' or tab, ';', '|' (default: sniffed; whitespace if none)"),
    "header": ("header", "whether the file's first line is a header (default: detected)"),
    "rating_threshold": ("rating_threshold", "only interactions rated >= this are positives (files, ml-100k)"),
    "min_interactions": ("min_interactions", "iterative k-core: drop users/items with fewer interactions"),
    "split": ("split", "'ratio' (per-user random) or 'given' (a split column) (default: the dataset's)"),
    "ratios": ("ratios", "train,val,test shares of the 'ratio' split (default: 0.8,0.1,0.1)"),
}
_SEPARATORS = {"tab": "\t", r"\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": None,
               "whitespace": None}


def normalise_key(key: str) -> str:
    return str(key).replace("-", "_")


def dataset_options_from_flags(flags: Mapping[str, Any], base: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    r"""Folds the flat file options of :data:`DATASET_FLAGS` into ``dataset_options``."""
    options = dict(base or {})
    for key, value in flags.items():
        if value is None:
            continue
        target = DATASET_FLAGS[key][0]
        if target.startswith("columns."):
            columns = options.setdefault("columns", {})
            if not isinstance(columns, dict):
                raise ValueError(f"{key} names a header column, but columns={columns!r} is positional; use one")
            columns[target.split(".", 1)[1]] = str(value)
        elif target == "columns":
            roles = value.split(",") if isinstance(value, str) else list(value)
            options["columns"] = [None if role.strip() in ("_", "", "-") else role.strip() for role in roles]
        elif target == "delimiter":
            options["delimiter"] = _SEPARATORS.get(value, value)
        elif target == "ratios" and isinstance(value, str):
            options["ratios"] = tuple(float(part) for part in value.split(","))
        else:
            options[target] = value
    return options


def read_mapping(path: Union[str, Path]) -> Dict[str, Any]:
    r"""The mapping stored in a YAML (``.yaml``, ``.yml``, anything else) or JSON (``.json``) file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
    else:
        import yaml
        try:
            payload = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: a config file is a mapping of option names to values, got "
                         f"{type(payload).__name__}")
    return payload


def read_run_config(path: Union[str, Path]) -> Dict[str, Any]:
    r"""Reads a YAML or JSON run config, or the resolved run of a result JSON, as a flat dict.

    Keys are normalised (``batch-size`` -> ``batch_size``) and file options folded into
    ``dataset_options``; :func:`check_run_config` validates them.
    """
    payload = read_mapping(path)
    if isinstance(payload.get("config"), dict) and "metrics" in payload:
        if not isinstance(payload["config"].get("run"), dict):
            raise ValueError(f"{path} is a result written before results embedded their run config; "
                             "it cannot be repeated from its output")
        payload = payload["config"]["run"]
    return normalise_run(payload)


def normalise_run(run: Mapping[str, Any]) -> Dict[str, Any]:
    """Keys with underscores; the flat file options folded into ``dataset_options``."""
    run = {normalise_key(k): v for k, v in run.items()}
    flags = {k: run.pop(k) for k in list(run) if k in DATASET_FLAGS}
    if flags:
        run["dataset_options"] = dataset_options_from_flags(flags, run.get("dataset_options"))
    return run


def check_run_config(run: Mapping[str, Any], where: str = "config") -> Dict[str, Any]:
    r"""Checks every key and value of a run before any data is read.

    A key that is neither a :func:`~graphdenoise.fit` argument, a command-line output key nor a
    field of the trainer's, model's or method's config is a :class:`ValueError` naming it and
    listing the valid keys; the values are checked by constructing the typed configs.
    """
    from .api import option_names, route_run_options
    run = dict(run)
    model, method = run.get("model", "lightgcn"), run.get("method", "bpr")
    options = {k: v for k, v in run.items() if k not in FIT_KEYS and k not in CLI_KEYS}
    try:
        names = option_names(model, method)
        unknown = sorted(set(options) - names)
        if unknown:
            valid = sorted(set(FIT_KEYS) | set(CLI_KEYS) | set(DATASET_FLAGS) | names)
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))} for model {model!r} and method "
                             f"{method!r}; valid keys: {', '.join(valid)}")
        route_run_options(model, method, options, epochs=run.get("epochs"), seed=run.get("seed", 0), validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return run


def resolved_run(config: Mapping[str, Any], fit_arguments: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The flat run that repeats a finished fit: its :func:`~graphdenoise.fit` arguments plus every
    field of its sub-configs at the value used (execution-only fields left out)."""
    run = {key: fit_arguments[key] for key in FIT_KEYS if key in fit_arguments and key not in EXECUTION_KEYS}
    reserved = set(FIT_KEYS) | set(EXECUTION_KEYS)
    for section in ("data_config", "trainer", "model_config", "method_config"):
        for key, value in (config.get(section) or {}).items():
            if key not in reserved and key not in run:
                run[key] = list(value) if isinstance(value, tuple) else value
    return run
