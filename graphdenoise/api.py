r"""One call: :func:`fit` trains and evaluates a recommender; :func:`load` restores a saved result."""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from torch_geometric.data import HeteroData

from .datasets.graph import INTERACTS, make_heterodata
from .methods import METHODS, Method
from .models import MODELS, Recommender
from .sampling import TripletSampler
from .train import Trainer, TrainerConfig, atomic_save, atomic_write_text, load_checkpoint
from .utils import seed_everything


def _config_fields(cls) -> set:
    return {f.name for f in dataclasses.fields(cls)}


def split_options(model_cls, method_cls, options: Dict[str, Any]):
    r"""Route keyword options to the trainer, model and method configs by field name.

    A name that no config has, or that two configs share, is a clear error.
    """
    owners = {"trainer": _config_fields(TrainerConfig), "model": _config_fields(model_cls.Config),
              "method": _config_fields(method_cls.Config)}
    routed: Dict[str, Dict[str, Any]] = {key: {} for key in owners}
    for name, value in options.items():
        matches = [key for key, names in owners.items() if name in names]
        if not matches:
            valid = sorted(set().union(*owners.values()))
            raise ValueError(f"unknown option {name!r}; valid options for this model and method: {', '.join(valid)}")
        routed[matches[0]][name] = value
    return routed["trainer"], routed["model"], routed["method"]


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained model, its metrics per split, the history and the config."""

    model: Recommender
    method: Method
    metrics: Dict[str, Dict[str, float]]
    history: List[Dict[str, float]]
    config: Dict[str, Any]
    best_epoch: int = 0
    seconds: float = 0.0

    def recommend(self, users, k: int = 20) -> torch.Tensor:
        return self.model.recommend(users, k)

    def to_json(self) -> dict:
        return {"config": self.config, "metrics": self.metrics, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "history": self.history}

    def save(self, path: Union[str, Path]) -> None:
        """Save model and method weights, metrics, history, config and the training graph (atomic)."""
        model = self.model
        if not isinstance(model, Recommender):
            raise ValueError(f"save() supports the graph backbones ({', '.join(MODELS.names())}); for a sequence "
                             f"model use save_json() for the metrics and torch.save(result.model.state_dict(), path)")
        atomic_save({"format": "graphdenoise-result-1", **self.to_json(),
                     "model_state": {k: v.cpu() for k, v in model.state_dict().items()},
                     "method_state": {k: v.cpu() for k, v in self.method.state_dict().items()},
                     "num_users": model.num_users, "num_items": model.num_items,
                     "train_edge_index": torch.stack([model.train_index.users, model.train_index.items]).cpu()},
                    path)

    def save_json(self, path: Union[str, Path]) -> None:
        """Metrics, config and history as JSON (atomic)."""
        atomic_write_text(json.dumps(self.to_json(), indent=2, default=str), path)


def load(path: Union[str, Path], device: Optional[str] = None) -> FitResult:
    """Restore a :class:`FitResult` written by :meth:`FitResult.save`."""
    state = load_checkpoint(path)
    if state.get("format") != "graphdenoise-result-1":
        raise ValueError(f"{path} is not a graphdenoise result file (format {state.get('format')!r})")
    config = state["config"]
    data = make_heterodata(state["num_users"], state["num_items"], {"train": state["train_edge_index"]})
    model_cls, method_cls = MODELS.get(config["model"]), METHODS.get(config["method"])
    model = model_cls(data, model_cls.Config(**config["model_config"]))
    method = method_cls(method_cls.Config(**config["method_config"]))
    model.load_state_dict(state["model_state"])
    method.setup(model, data, TripletSampler(data, index=model.train_index))
    method.load_state_dict(state["method_state"])
    if device is not None:
        model.to(device)
    return FitResult(model, method, state["metrics"], state["history"], config, state.get("best_epoch", 0),
                     state.get("seconds", 0.0))


def fit(dataset: Union[str, HeteroData] = "synthetic", model: str = "lightgcn", method: str = "bpr", *,
        epochs: Optional[int] = None, device: Optional[str] = None, seed: int = 0, data_dir: Optional[str] = None,
        dataset_options: Optional[Dict[str, Any]] = None, noisy_positives: float = 0.0,
        noisy_negatives: float = 0.0, show_progress: bool = False, distributed: bool = False,
        callbacks: Optional[List] = None, **options) -> FitResult:
    r"""Train ``model`` with ``method`` on ``dataset`` and evaluate it (model selection on validation only).

    Defaults are the ones a user should start from: LightGCN with one layer (the TIL paper's backbone
    setting; the strongest backbone here at the cost of a cheap sparse product per batch), plain BPR
    (the control every denoiser must beat), Adam with lr 1e-3 and L2 1e-4, batch 5000, at most 300
    epochs with validation every 5 and patience 5 evaluations.

    Args:
        dataset (str or HeteroData): A registered name (``gowalla``, ``amazon-cd``, ``lastfm``,
            ``ml-100k``, ``synthetic``) or a :class:`HeteroData` in graphdenoise's layout.
        model (str): ``mf``, ``neumf``, ``lightgcn`` or ``mgccf``. (default: ``"lightgcn"``)
        method (str): ``bpr`` or a denoising method. (default: ``"bpr"``)
        epochs (int, optional): Maximum epochs. (default: 300)
        device (str, optional): ``cpu``, ``cuda``... (default: CUDA when available)
        seed (int): Fixes split, initialisation, sampling and results on CPU. (default: 0)
        data_dir (str, optional): Folder of raw files (else ``$GRAPHDENOISE_DATA``, else download).
        dataset_options (dict, optional): Passed to the dataset loader (``split``, ``min_interactions``...).
        noisy_positives (float): Inject this ratio of noisy positives into the training edges. (default: 0)
        noisy_negatives (float): Flip this ratio of training positives to negatives. (default: 0)
        show_progress (bool): Progress bar and per-evaluation lines. (default: :obj:`False`)
        distributed (bool): Data-parallel training inside an initialised ``torch.distributed``
            process group (e.g. under ``torchrun``); every rank calls ``fit`` with the same arguments
            and gets the same result. (default: :obj:`False`)
        callbacks (list, optional): Called as ``callback(epoch, record)`` after every epoch of a
            graph backbone, e.g. :mod:`graphdenoise.train.tracking` loggers. (default: :obj:`None`)
        **options: Fields of :class:`~graphdenoise.train.TrainerConfig`, of the model's config and
            of the method's config, by name (e.g. ``lr=5e-3``, ``num_layers=2``, ``drop_rate=0.1``).
    """
    if model in _sequence_models():
        if callbacks:
            raise ValueError(f"callbacks are supported for the graph backbones, not the sequence model {model!r}")
        return _fit_sequential(dataset, model, method, epochs=epochs, device=device, seed=seed, data_dir=data_dir,
                               dataset_options=dataset_options, show_progress=show_progress, **options)
    if model not in MODELS and model not in _sequence_models():
        MODELS.get(model)  # raises, listing the graph backbones
    model_cls, method_cls = MODELS.get(model), METHODS.get(method)
    trainer_opts, model_opts, method_opts = split_options(model_cls, method_cls, options)
    if epochs is not None:
        trainer_opts["epochs"] = epochs
    if distributed:
        from .distributed import current_world, rank_device
        device = rank_device(device, current_world())
    trainer_config = TrainerConfig(seed=seed, device=device, show_progress=show_progress, distributed=distributed,
                                   **trainer_opts)
    data = _resolve_dataset(dataset, data_dir, seed, dataset_options or {}, noisy_positives, noisy_negatives)
    seed_everything(seed)
    net = model_cls(data, **model_opts)
    algo = method_cls(**method_opts)
    config = {"dataset": dataset if isinstance(dataset, str) else "<HeteroData>", "model": model.lower(),
              "method": method.lower(), "model_config": asdict(net.config), "method_config": asdict(algo.config),
              "trainer": asdict(trainer_config), "dataset_options": dataset_options or {},
              "noisy_positives": noisy_positives, "noisy_negatives": noisy_negatives,
              "torch": torch.__version__}
    callbacks = _run_callbacks(callbacks, trainer_config, {"model": net, "method": algo}, config)
    trainer = Trainer(net, algo, data, trainer_config, callbacks=callbacks)
    start = time.perf_counter()
    try:
        trainer.fit()
    finally:
        for callback in callbacks:
            if hasattr(callback, "close"):
                callback.close()
    metrics = trainer.final_metrics()
    return FitResult(net, algo, metrics, trainer.history, config, trainer.best_epoch, time.perf_counter() - start)


def _run_callbacks(callbacks, trainer_config: TrainerConfig, modules: dict, config: dict) -> list:
    """The user's callbacks, attached to the run, plus the CSV log of a run with a checkpoint folder."""
    from .train.tracking import CSVLogger
    from .distributed import current_world
    callbacks = list(callbacks or [])
    is_main = not trainer_config.distributed or current_world().is_main  # one writer per run
    if trainer_config.checkpoint_dir is not None and is_main and not any(isinstance(c, CSVLogger) for c in callbacks):
        callbacks.append(CSVLogger(Path(trainer_config.checkpoint_dir) / "log.csv"))
    for callback in callbacks:
        if hasattr(callback, "attach"):
            callback.attach(modules, config)
    return callbacks


def _sequence_models():
    from .sequential import SEQUENCE_MODELS
    return SEQUENCE_MODELS


def _fit_sequential(dataset, model, method, *, epochs, device, seed, data_dir, dataset_options, show_progress,
                    **options) -> FitResult:
    """Sequence encoders (``widedeep``, ``din``, ``sasrec``) train on the sequential view of the data."""
    from .sequential import fit_sequence
    dataset_options = dict(dataset_options or {})
    if isinstance(dataset, str) and dataset.lower() == "ml-100k":
        dataset_options.setdefault("rating_threshold", None)  # every rating is an interaction (ATJT, Sec. 5)
    data = _resolve_dataset(dataset, data_dir, seed, dataset_options, 0.0, 0.0)
    result = fit_sequence(data, model=model, method=method, epochs=epochs, device=device, seed=seed,
                          show_progress=show_progress, **options)
    result.config.setdefault("dataset", dataset if isinstance(dataset, str) else "<HeteroData>")
    return result


def _resolve_dataset(dataset, data_dir, seed, dataset_options, noisy_positives, noisy_negatives) -> HeteroData:
    if isinstance(dataset, HeteroData):
        data = dataset
        if INTERACTS not in data.edge_types:
            raise ValueError(f"a HeteroData dataset needs the edge type {INTERACTS} (see docs/data-schema.md)")
    elif isinstance(dataset, str):
        from .datasets import load_dataset
        data = load_dataset(dataset, data_dir=data_dir, seed=seed, **dataset_options)
    else:
        raise TypeError(f"dataset must be a name or a HeteroData, got {type(dataset).__name__}")
    if noisy_positives or noisy_negatives:
        from .datasets.noise import AddNoisyNegatives, AddNoisyPositives, AddNoisyPosNeg
        data = data.clone()
        if noisy_positives and noisy_negatives and noisy_positives == noisy_negatives:
            data = AddNoisyPosNeg(noisy_positives, seed=seed)(data)  # both counted on the clean edges
        else:
            if noisy_positives:
                data = AddNoisyPositives(noisy_positives, seed=seed)(data)
            if noisy_negatives:
                data = AddNoisyNegatives(noisy_negatives, seed=seed)(data)
    return data
