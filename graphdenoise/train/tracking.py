r"""Experiment tracking as trainer callbacks: a CSV log, TensorBoard and MLflow.

Each logger is a callable ``logger(epoch, record)`` for the ``callbacks`` of
:class:`~graphdenoise.train.Trainer` and :func:`graphdenoise.fit`. ``record`` is the trainer's
per-epoch dictionary (``loss``, ``seconds``, the method's statistics and, at evaluation epochs, the
validation metrics as ``val/<metric>``). Two optional hooks, which :func:`graphdenoise.fit` calls,
give a logger more than the record:

* ``attach(modules, config)`` before training, with the model and method (for weight statistics)
  and the run's configuration (a JSON-able dictionary);
* ``close()`` after training, also when it stops with an error.

::

    from graphdenoise import fit
    from graphdenoise.train.tracking import CSVLogger, TensorBoardLogger

    fit("ml-100k", "mf", "tce", callbacks=[TensorBoardLogger("runs/tb"), CSVLogger("runs/log.csv")])

or ``graphdenoise fit ... --log-dir runs/tb [--mlflow]``; ``tensorboard --logdir runs/tb`` shows it.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from ..optional import require
from .checkpoint import atomic_write_text


def scalars(record: Mapping[str, Any]) -> Dict[str, float]:
    """The finite-or-not numeric entries of ``record`` (``epoch`` excluded), as floats."""
    out = {}
    for key, value in record.items():
        if key == "epoch" or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[key] = float(value)
        elif hasattr(value, "numel") and value.numel() == 1:
            out[key] = float(value)
    return out


def weight_statistics(modules: Mapping[str, Any]) -> Dict[str, float]:
    r"""``weights/<module>/<parameter>/{norm,mean,std}`` of every parameter of ``modules``
    (computed on the parameters' device; one small reduction each)."""
    import torch
    out = {}
    with torch.no_grad():
        for prefix, module in modules.items():
            for name, param in module.named_parameters():
                if param.numel() == 0:
                    continue
                data = param.detach().float()
                key = f"weights/{prefix}/{name}"
                out[f"{key}/norm"] = float(data.norm())
                out[f"{key}/mean"] = float(data.mean())
                out[f"{key}/std"] = float(data.std()) if data.numel() > 1 else 0.0
    return out


def is_evaluation(record: Mapping[str, Any]) -> bool:
    return any(key.startswith("val/") for key in record)


class CSVLogger:
    r"""Writes every epoch's record as one CSV row (columns: ``epoch`` then every key seen so far).

    A row is appended per epoch; when a new key appears (the first evaluation) the file is rewritten
    with the wider header, atomically. On a resumed run, rows at or after the first new epoch are
    dropped before logging continues, so the file never repeats an epoch.

    Args:
        path (str or Path): The CSV file (its folder is created).
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.rows: Optional[List[Dict[str, Any]]] = None
        self.columns: List[str] = ["epoch"]

    def _load(self, first_epoch: int) -> None:
        self.rows = []
        if self.path.exists():
            with open(self.path, newline="") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or ["epoch"])
                self.rows = [row for row in reader if row.get("epoch", "").isdigit()
                             and int(row["epoch"]) < first_epoch]
        self._rewrite()

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(buffer.getvalue(), self.path)

    def __call__(self, epoch: int, record: Mapping[str, Any]) -> None:
        if self.rows is None:
            self._load(epoch)
        row = {"epoch": epoch, **{k: repr(v) if isinstance(v, float) else v for k, v in scalars(record).items()}}
        self.rows.append(row)
        new = [key for key in row if key not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
            return
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns, lineterminator="\n").writerow(row)


class TensorBoardLogger:
    r"""Per-epoch scalars, weight statistics at every evaluation and the run's configuration to
    TensorBoard (``torch.utils.tensorboard``; needs ``pip install graphdenoise[track]``).

    Args:
        log_dir (str or Path): The event-file folder (``tensorboard --logdir`` it).
        weights (bool): Log ``weights/...`` norm, mean and std at each evaluation. (default: :obj:`True`)
    """

    def __init__(self, log_dir: Union[str, Path], weights: bool = True):
        require("tensorboard", "TensorBoard logging", "track")
        from torch.utils.tensorboard import SummaryWriter
        self.log_dir = str(log_dir)
        self.writer = SummaryWriter(self.log_dir)
        self.weights = weights
        self.modules: Dict[str, Any] = {}

    def attach(self, modules: Mapping[str, Any], config: Mapping[str, Any]) -> None:
        self.modules = dict(modules)
        text = json.dumps(config, indent=2, sort_keys=True, default=str)
        self.writer.add_text("config", "```\n" + text + "\n```", 0)

    def __call__(self, epoch: int, record: Mapping[str, Any]) -> None:
        values = scalars(record)
        if self.weights and self.modules and is_evaluation(record):
            values.update(weight_statistics(self.modules))
        for key, value in values.items():
            if math.isfinite(value):
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowLogger:
    r"""The same scalars and weight statistics to MLflow, the flattened configuration as run
    parameters (needs ``pip install graphdenoise[mlflow]``; the tracking URI is MLflow's, e.g.
    ``$MLFLOW_TRACKING_URI``, else ``./mlruns``).

    Args:
        experiment (str, optional): MLflow experiment name (default: MLflow's default experiment).
        run_name (str, optional): Name of the run.
    """

    def __init__(self, experiment: Optional[str] = None, run_name: Optional[str] = None):
        self.mlflow = require("mlflow", "MLflow tracking", "mlflow")
        if experiment:
            self.mlflow.set_experiment(experiment)
        self.run = self.mlflow.start_run(run_name=run_name)
        self.modules: Dict[str, Any] = {}

    def attach(self, modules: Mapping[str, Any], config: Mapping[str, Any]) -> None:
        self.modules = dict(modules)
        self.mlflow.log_params({k: str(v)[:500] for k, v in flatten(config).items()})

    def __call__(self, epoch: int, record: Mapping[str, Any]) -> None:
        values = scalars(record)
        if self.modules and is_evaluation(record):
            values.update(weight_statistics(self.modules))
        finite = {key.replace("@", "_at_"): v for key, v in values.items() if math.isfinite(v)}
        self.mlflow.log_metrics(finite, step=epoch)

    def close(self) -> None:
        self.mlflow.end_run()


def flatten(config: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def tracking_callbacks(log_dir: Optional[str] = None, mlflow: bool = False, csv_path: Optional[str] = None,
                       run_name: Optional[str] = None) -> list:
    r"""The loggers the command line asks for: TensorBoard under ``log_dir``, MLflow, and a CSV log
    (``csv_path``, else ``log_dir/log.csv`` when ``log_dir`` is set). Optional packages are checked
    here, before any work starts."""
    callbacks: list = []
    if log_dir is not None:
        callbacks.append(TensorBoardLogger(log_dir))
        csv_path = csv_path or str(Path(log_dir) / "log.csv")
    if mlflow:
        callbacks.append(MLflowLogger(run_name=run_name))
    if csv_path is not None:
        callbacks.append(CSVLogger(csv_path))
    return callbacks
