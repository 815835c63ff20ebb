r"""Hyper-parameter search with Optuna: ``graphdenoise tune`` and :func:`tune`.

Every trial is one :func:`graphdenoise.fit` run with options sampled from the search space that the
trainer (lr, L2), the backbone and the method declare beside their configs
(:mod:`graphdenoise.search_space`). The objective is the VALIDATION metric of the state that model
selection keeps (``monitor``, default Recall@20); test metrics never reach the study. After every
evaluation a :class:`PruningCallback` reports the best validation value so far and Optuna's
:class:`~optuna.pruners.MedianPruner` stops trials that fall below the median of earlier trials at
the same epoch.

The study lives in Optuna's RDB storage (``--storage sqlite:///study.db``): an interrupted search
resumes where it stopped (``trials`` is the study's total, so the same command continues it), and
several processes or machines work on one study by pointing at one database URL, e.g. PostgreSQL
(``postgresql://user:password@host/db``) for a cluster. Trials of a process that died are marked
failed after a heartbeat grace period and run again. A study remembers what it searches (dataset,
model, method, fixed options, seed, epochs, space); resuming it with other settings is an error.

Needs ``pip install graphdenoise[tune]``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from .search_space import Param, parse_param, search_space

#: Trial states counted towards ``trials``: finished or pruned (a failed trial is run again).
_COUNTED = ("COMPLETE", "PRUNED")


def require_optuna():
    """Import Optuna or raise an :class:`ImportError` saying which extra to install."""
    from .optional import require
    return require("optuna", "hyper-parameter tuning", "tune")


class PruningCallback:
    r"""A trainer callback reporting the best validation ``monitor`` so far to an Optuna trial after each
    evaluation; raises :class:`optuna.TrialPruned` when the study's pruner stops the trial.

    Args:
        trial (optuna.Trial): The running trial.
        monitor (str): Validation metric, as in :class:`~graphdenoise.train.TrainerConfig`. (default: ``"recall@20"``)
    """

    def __init__(self, trial, monitor: str = "recall@20"):
        self.trial, self.key, self.best = trial, f"val/{monitor}", -math.inf

    def __call__(self, epoch: int, record: Mapping[str, Any]) -> None:
        if self.key not in record:
            return
        self.best = max(self.best, float(record[self.key]))
        self.trial.report(self.best, step=epoch)
        if self.trial.should_prune():
            optuna = require_optuna()
            raise optuna.TrialPruned(f"{self.key} {self.best:.4f} at epoch {epoch} is below the median")


def storage_for(url: Optional[str]):
    r"""Optuna storage for ``url``: None is in memory; a database URL (``sqlite:///study.db``,
    ``postgresql://...``) is an RDB storage with a heartbeat, so that the trials of a killed process
    are marked failed and retried by the next worker."""
    optuna = require_optuna()
    if url is None:
        return None
    if "://" not in url:
        raise ValueError(f"--storage must be a database URL such as sqlite:///study.db, got {url!r}")
    if url.startswith("sqlite:///"):
        from pathlib import Path
        Path(url[len("sqlite:///"):]).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    import warnings
    storages = optuna.storages
    with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
            return storages.RDBStorage(url, heartbeat_interval=30, grace_period=120,
                                       heartbeat_stale_trial_callback=storages.RetryHeartbeatStaleTrialCallback(2))
        return storages.RDBStorage(url, heartbeat_interval=30, grace_period=120,
                                   failed_trial_callback=storages.RetryFailedTrialCallback(max_retry=2))


def open_study(name: str, storage: Optional[str], identity: Mapping[str, Any], *, prune: bool = True,
               sampler_seed: Optional[int] = 0, startup_trials: int = 5):
    r"""Create or load the study ``name`` (maximising), checking that a loaded one searched ``identity``.

    Args:
        name (str): Study name (unique within the storage).
        storage (str, optional): Database URL (None: in memory).
        identity (dict): What the study searches; stored as user attributes and compared on resume.
        prune (bool): Median pruning from per-evaluation reports. (default: :obj:`True`)
        sampler_seed (int, optional): Seed of the TPE sampler (give each parallel worker its own).
        startup_trials (int): Random trials before TPE, and trials before pruning starts. (default: 5)
    """
    optuna = require_optuna()
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=startup_trials) if prune else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=name, storage=storage_for(storage), sampler=sampler, pruner=pruner,
                                direction="maximize", load_if_exists=True)
    identity = json.loads(json.dumps(identity, sort_keys=True, default=str))
    stored = study.user_attrs
    if stored:
        differ = {k: (stored.get(k), identity.get(k)) for k in sorted(set(stored) | set(identity))
                  if stored.get(k) != identity.get(k)}
        if differ:
            lines = "; ".join(f"{k}: study has {a!r}, now {b!r}" for k, (a, b) in differ.items())
            raise ValueError(f"study {name!r} in {storage} was created for other settings ({lines}); "
                             f"use another --study-name or the same settings")
    else:
        for key, value in identity.items():
            study.set_user_attr(key, value)
    return study


def counted_trials(study) -> int:
    optuna = require_optuna()
    states = tuple(getattr(optuna.trial.TrialState, s) for s in _COUNTED)
    return len(study.get_trials(deepcopy=False, states=states))


def optimize(study, objective: Callable[[Dict[str, Any], Any], float], space: Mapping[str, Param], trials: int,
             start: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None) -> int:
    r"""Run trials until ``study`` holds ``trials`` finished or pruned ones (across every worker).

    ``objective(params, trial)`` trains with ``params`` (sampled from ``space``) and returns the
    validation value. ``start`` (e.g. the defaults) is enqueued as the first trial of a new study.
    Returns the number of trials this call ran.
    """
    optuna = require_optuna()
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    before = len(study.trials)
    if start and not before:
        study.enqueue_trial(start)
    remaining = trials - counted_trials(study)
    if remaining <= 0:
        return 0
    states = tuple(getattr(optuna.trial.TrialState, s) for s in _COUNTED)
    study.optimize(lambda trial: objective({name: p.suggest(trial, name) for name, p in space.items()}, trial),
                   n_trials=remaining, timeout=timeout,
                   callbacks=[optuna.study.MaxTrialsCallback(trials, states=states)])
    return len(study.trials) - before


def default_start(space: Mapping[str, Param], model: str, method: str) -> Dict[str, Any]:
    """The defaults of the searched options (trainer, model and method configs) that lie in ``space``."""
    from .methods import METHODS
    from .models import MODELS
    from .train import TrainerConfig
    defaults: Dict[str, Any] = {}
    for cls in (TrainerConfig, MODELS.get(model).Config, METHODS.get(method).Config):
        defaults.update({f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING})
    return {name: defaults[name] for name in space if name in defaults and defaults[name] in space[name]}


@dataclass
class TuneResult:
    """What :func:`tune` returns: the study, its best options and validation value, and what was fixed."""

    study: Any
    best_params: Dict[str, Any]
    best_value: float
    fixed: Dict[str, Any] = field(default_factory=dict)
    ran: int = 0
    """Trials run by this call (the rest were in the study already)."""

    def to_json(self) -> dict:
        return {"study": self.study.study_name, "best_params": self.best_params, "best_value": self.best_value,
                "fixed": self.fixed, "identity": self.study.user_attrs, "trials": trial_rows(self.study)}


def trial_rows(study) -> List[Dict[str, Any]]:
    """One dictionary per trial: number, state, validation value, last reported epoch and options."""
    return [{"number": t.number, "state": t.state.name, "value": t.value,
             "epoch": max(t.intermediate_values) if t.intermediate_values else None, "params": t.params}
            for t in study.trials]


def tune(dataset="synthetic", model: str = "mf", method: str = "bpr", *, trials: int = 20,
         storage: Optional[str] = None, study_name: Optional[str] = None, seed: int = 0,
         epochs: Optional[int] = None, monitor: str = "recall@20", space: Optional[Mapping[str, Param]] = None,
         prune: bool = True, sampler_seed: Optional[int] = 0, timeout: Optional[float] = None,
         data_dir: Optional[str] = None, dataset_options: Optional[Dict[str, Any]] = None,
         device: Optional[str] = None, start_from_defaults: bool = True, **options) -> TuneResult:
    r"""Search the options of ``method`` on ``model`` by validation ``monitor``; resumable and shareable.

    Args:
        dataset (str or HeteroData): As in :func:`graphdenoise.fit`. (default: ``"synthetic"``)
        model (str): Backbone. (default: ``"mf"``)
        method (str): Training method. (default: ``"bpr"``)
        trials (int): Total finished trials the study should hold; a resumed study runs only the rest.
            (default: 20)
        storage (str, optional): Database URL, e.g. ``sqlite:///study.db`` (default: in memory).
        study_name (str, optional): (default: ``<dataset>-<model>-<method>-seed<seed>``)
        seed (int): Seed of every trial's split, initialisation and sampling. (default: 0)
        epochs (int, optional): Maximum epochs per trial (default: the trainer's).
        monitor (str): Validation metric maximised. (default: ``"recall@20"``)
        space (dict, optional): Name -> :class:`~graphdenoise.search_space.Float` / ``Int`` / ``Choice``
            (default: :func:`~graphdenoise.search_space.search_space` of the pair, less ``options``).
        prune (bool): Median pruning. (default: :obj:`True`)
        sampler_seed (int, optional): TPE seed; give parallel workers different seeds. (default: 0)
        timeout (float, optional): Stop this call after this many seconds.
        data_dir (str, optional): Folder of raw files.
        dataset_options (dict, optional): Loader options.
        device (str, optional): ``cpu``, ``cuda``...
        start_from_defaults (bool): The first trial of a new study uses the config defaults.
            (default: :obj:`True`)
        **options: Fixed options of :func:`graphdenoise.fit` (not searched), e.g. ``batch_size=1024``.
    """
    require_optuna()
    from .api import _dataset_options, _resolve_dataset, fit
    from .tasks import task_of
    name = dataset if isinstance(dataset, str) else "data"
    space = dict(space) if space is not None else search_space(model, method, exclude=tuple(options))
    clash = sorted(set(space) & set(options))
    if clash:
        raise ValueError(f"options {clash} are both fixed and searched; drop them from the space or the options")
    identity = {"dataset": name, "dataset_options": dataset_options or {}, "model": model.lower(),
                "method": method.lower(), "seed": seed, "epochs": epochs, "monitor": monitor, "fixed": options,
                "space": {k: repr(v) for k, v in space.items()}}
    study = open_study(study_name or f"{name}-{model}-{method}-seed{seed}".lower(), storage, identity, prune=prune,
                       sampler_seed=sampler_seed)
    data = _resolve_dataset(dataset, data_dir, seed, _dataset_options(task_of(model), dataset, dataset_options))

    def objective(params, trial) -> float:
        result = fit(data, model, method, epochs=epochs, seed=seed, device=device, monitor=monitor,
                     callbacks=[PruningCallback(trial, monitor)], **options, **params)
        return result.metrics["val"][monitor]

    start = default_start(space, model, method) if start_from_defaults else None
    ran = optimize(study, objective, space, trials, start=start, timeout=timeout)
    if counted_trials(study) == 0 or not any(t.value is not None for t in study.trials):
        raise RuntimeError(f"study {study.study_name!r} has no finished trial")
    return TuneResult(study, dict(study.best_params), float(study.best_value), dict(options), ran)


# ---------------------------------------------------------------------------------------- command line
def add_parser(subparsers):
    """The ``graphdenoise tune`` sub-command."""
    from .cli import _parse_option
    parser = subparsers.add_parser(
        "tune", help="search hyper-parameters with Optuna on validation (resumable, shareable through a database)",
        description="Each trial trains once with options sampled from the space the trainer (lr, L2), the model and "
                    "the method declare; the objective is the validation metric of the selected state (never test); "
                    "the median pruner stops weak trials after each evaluation. With --storage the study is kept in a "
                    "database: the same command resumes it, and several processes or machines share it.")
    parser.add_argument("--dataset", default="synthetic", help="dataset name (default: synthetic)")
    parser.add_argument("--model", default="mf", help="backbone (default: mf)")
    parser.add_argument("--method", default="bpr", help="training method (default: bpr)")
    parser.add_argument("--trials", type=int, default=20, help="total trials of the study (default: 20)")
    parser.add_argument("--storage", default=None,
                        help="database URL, e.g. sqlite:///study.db or postgresql://... (default: in memory)")
    parser.add_argument("--study-name", default=None, help="(default: <dataset>-<model>-<method>-seed<seed>)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs per trial (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every trial (default: 0)")
    parser.add_argument("--monitor", default="recall@20", help="validation metric (default: recall@20)")
    parser.add_argument("--space", action="append", type=parse_param, default=[], metavar="NAME=LOW:HIGH[:log]",
                        help="search only these options (repeatable; NAME=A,B for a choice) "
                             "(default: what the trainer, model and method declare)")
    parser.add_argument("--no-prune", action="store_true", help="no median pruning")
    parser.add_argument("--sampler-seed", type=int, default=0, help="TPE seed; one per parallel worker (default: 0)")
    parser.add_argument("--timeout", type=float, default=None, help="stop this call after this many seconds")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: cuda if available)")
    parser.add_argument("--data-dir", default=None, help="folder of raw files (default: $GRAPHDENOISE_DATA)")
    parser.add_argument("--option", "-o", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                        help="a fixed (not searched) model, method or trainer option")
    parser.add_argument("--dataset-option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                        help="dataset loader option")
    parser.add_argument("--out", default=None, help="write the best options and every trial as JSON here")
    return parser


def main(args) -> int:
    """Run ``graphdenoise tune``; prints the trials, the best options and the ``fit`` command using them."""
    optuna = require_optuna()  # before any work, with the extra to install where it is missing
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = tune(args.dataset, args.model, args.method, trials=args.trials, storage=args.storage,
                  study_name=args.study_name, seed=args.seed, epochs=args.epochs, monitor=args.monitor,
                  space=dict(args.space) or None, prune=not args.no_prune, sampler_seed=args.sampler_seed,
                  timeout=args.timeout, device=args.device, data_dir=args.data_dir,
                  dataset_options=dict(args.dataset_option), **dict(args.option))
    print(f"{'trial':>5}  {'state':<8} {'val ' + args.monitor:>14}  options")
    for row in trial_rows(result.study):
        value = "" if row["value"] is None else f"{row['value']:.4f}"
        options = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items())
        print(f"{row['number']:>5}  {row['state']:<8} {value:>14}  {options}")
    print(f"\nstudy {result.study.study_name!r}: {len(result.study.trials)} trials ({result.ran} run now); best "
          f"validation {args.monitor} {result.best_value:.4f}")
    command = ["graphdenoise", "fit", "--dataset", args.dataset, "--model", args.model, "--method", args.method,
               "--seed", str(args.seed)] + (["--epochs", str(args.epochs)] if args.epochs else [])
    for key, value in dict(args.dataset_option).items():
        command += ["--dataset-option", f"{key}={value}"]
    for key, value in {**dict(args.option), **result.best_params}.items():
        command += ["-o", f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"]
    print("train it with:", shlex.join(command))
    if args.out:
        from .train.checkpoint import atomic_write_text
        atomic_write_text(json.dumps(result.to_json(), indent=2, default=str), args.out)
        print(f"wrote {args.out}")
    return 0
