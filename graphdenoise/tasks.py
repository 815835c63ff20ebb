r"""The tasks :func:`graphdenoise.fit` dispatches to, by registry (:data:`TASKS`).

A :class:`Task` knows its model and method registries, the configs its options route to, how to
train and evaluate (:meth:`Task.fit`) and how to save and rebuild a trained model
(:meth:`Task.save_state`, :meth:`Task.rebuild`). ``fit`` finds the task whose model registry holds
the requested model; nothing else in :mod:`graphdenoise.api` knows about a particular task.

* ``"interactions"``: graph backbones (:data:`~graphdenoise.models.MODELS`) trained on triplets
  with the methods of :data:`~graphdenoise.methods.METHODS`, full-ranking evaluation;
* ``"sequential"``: sequence encoders (:data:`~graphdenoise.sequential.SEQUENCE_MODELS`) on the
  time-ordered view of the same data, with :data:`~graphdenoise.sequential.SEQUENCE_METHODS`.
  Imported on first use.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, Optional, Tuple

import torch
from torch_geometric.data import HeteroData

from .options import config_fields, route_options
from .registry import Registry
from .result import FitResult
from .train.run import fingerprinted, run_callbacks, train_and_evaluate

TASKS: Registry = Registry("task")


class Task:
    """One kind of recommendation problem (see the module docstring)."""

    name = ""
    reserved = ("epochs", "device", "seed", "show_progress", "distributed")
    """Keyword arguments of :func:`~graphdenoise.fit` that options must not repeat."""
    dataset_defaults: Dict[str, Any] = {}
    """Loader options this task sets by default, for the loaders that take them."""

    def models(self) -> Registry:
        raise NotImplementedError

    def methods(self) -> Registry:
        raise NotImplementedError

    def owners(self, model_cls, method_cls) -> Dict[str, type]:
        """The config dataclasses options route to, by owner name."""
        raise NotImplementedError

    def route(self, model: str, method: str, options: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        """``options`` by owning config, each config built once to check the values before any data loads."""
        model_cls, method_cls = self.models().get(model), self.methods().get(method)
        configs = self.owners(model_cls, method_cls)
        owners = {key: config_fields(cls) for key, cls in configs.items()}
        routed = route_options(owners, options, f"model {model} and method {method}", self.reserved)
        for key, cls in configs.items():
            cls(**routed[key])  # range checks of __post_init__
        return routed

    def fit(self, data: HeteroData, model: str, method: str, routed: Dict[str, Dict[str, Any]], *, epochs, device,
            seed: int, show_progress: bool, distributed: bool, described: Optional[dict] = None,
            callbacks: Optional[list] = None) -> FitResult:
        """Train and evaluate; ``described`` is what the user named (dataset, its options, noise), recorded
        in the run's fingerprint; ``callbacks`` are called as ``callback(epoch, record)`` after every epoch."""
        raise NotImplementedError

    def save_state(self, result: FitResult) -> dict:
        raise NotImplementedError

    def rebuild(self, state: dict) -> Tuple[torch.nn.Module, torch.nn.Module]:
        raise NotImplementedError


@TASKS.register("interactions")
class InteractionTask(Task):
    """Graph backbones on the interaction graph (the default task)."""

    name = "interactions"

    def models(self):
        from .models import MODELS
        return MODELS

    def methods(self):
        from .methods import METHODS
        return METHODS

    def owners(self, model_cls, method_cls):
        from .train import TrainerConfig
        return {"trainer": TrainerConfig, "model": model_cls.Config, "method": method_cls.Config}

    def fit(self, data, model, method, routed, *, epochs, device, seed, show_progress, distributed, described=None,
            callbacks=None):
        from .train import Trainer, TrainerConfig
        from .utils import seed_everything
        model_cls, method_cls = self.models().get(model), self.methods().get(method)
        if epochs is not None:
            routed["trainer"]["epochs"] = epochs
        if distributed:
            from .distributed import current_world, rank_device
            device = rank_device(device, current_world())
        trainer_config = TrainerConfig(seed=seed, device=device, show_progress=show_progress, distributed=distributed,
                                       **routed["trainer"])
        seed_everything(seed)
        net = model_cls(data, **routed["model"])
        algo = method_cls(**routed["method"])
        trainer_config, fingerprint = fingerprinted(net, algo, data, trainer_config, model, method, seed, described)
        config = {"task": self.name, "model": model.lower(), "method": method.lower(),
                  "model_config": asdict(net.config), "method_config": asdict(algo.config),
                  "trainer": asdict(trainer_config), "torch": str(torch.__version__)}
        callbacks = run_callbacks(callbacks, trainer_config, {"model": net, "method": algo}, config)
        trainer = Trainer(net, algo, data, trainer_config, callbacks=callbacks, fingerprint=fingerprint)
        return train_and_evaluate(trainer, config)

    def save_state(self, result):
        model = result.model
        return {"model_state": {k: v.cpu() for k, v in model.state_dict().items()},
                "method_state": {k: v.cpu() for k, v in result.method.state_dict().items()},
                "num_users": model.num_users, "num_items": model.num_items,
                "train_edge_index": torch.stack([model.train_index.users, model.train_index.items]).cpu()}

    def rebuild(self, state):
        from .datasets.graph import make_heterodata
        from .methods.base import setup_for_inference
        config = state["config"]
        data = make_heterodata(state["num_users"], state["num_items"], {"train": state["train_edge_index"]})
        model_cls, method_cls = self.models().get(config["model"]), self.methods().get(config["method"])
        model = model_cls(data, model_cls.Config(**config["model_config"]))
        method = method_cls(method_cls.Config(**config["method_config"]))
        model.load_state_dict(state["model_state"])
        setup_for_inference(method, model, data)
        method.load_state_dict(state["method_state"])
        return model, method


@TASKS.register("sequential")
class SequentialTask(Task):
    """Sequence encoders on the time-ordered view of the interactions (every rating is an
    interaction, as the ATJT paper counts them: loaders with a ``rating_threshold`` get None)."""

    name = "sequential"
    dataset_defaults = {"rating_threshold": None}

    def models(self):
        from .sequential.models import SEQUENCE_MODELS
        return SEQUENCE_MODELS

    def methods(self):
        from .sequential.methods import SEQUENCE_METHODS
        return SEQUENCE_METHODS

    def owners(self, model_cls, method_cls):
        from .sequential.data import SequenceDataConfig
        from .sequential.trainer import SequenceTrainerConfig
        return {"data": SequenceDataConfig, "trainer": SequenceTrainerConfig, "model": model_cls.Config,
                "method": method_cls.Config}

    def fit(self, data, model, method, routed, *, epochs, device, seed, show_progress, distributed, described=None,
            callbacks=None):
        from .sequential.api import train_sequence
        if distributed:
            raise ValueError("distributed=True is supported for the interaction task only, not for sequence "
                             f"model {model!r}")
        return train_sequence(data, model, method, routed, epochs=epochs, device=device, seed=seed,
                              show_progress=show_progress, described=described, callbacks=callbacks)

    def save_state(self, result):
        model = result.model
        seen = model.seen
        return {"model_state": {k: v.cpu() for k, v in model.state_dict().items()},
                "num_users": model.num_users, "num_items": model.num_items, "max_len": model.max_len,
                "last_history": model.last_history.cpu(),
                "seen_edge_index": None if seen is None else torch.stack([seen.users, seen.items]).cpu()}

    def rebuild(self, state):
        from .utils import InteractionIndex
        config = state["config"]
        model_cls, method_cls = self.models().get(config["model"]), self.methods().get(config["method"])
        model = model_cls(state["num_users"], state["num_items"], state["max_len"],
                          model_cls.Config(**config["model_config"]))
        model.load_state_dict(state["model_state"])
        model.last_history = state["last_history"]
        if state["seen_edge_index"] is not None:
            model.seen = InteractionIndex(state["seen_edge_index"], model.num_users, model.num_items)
        # the method's auxiliary models are training-only: restored with their config, not their weights
        return model, method_cls(method_cls.Config(**config["method_config"]))


def get_task(name: str) -> Task:
    """The task registered as ``name``."""
    return TASKS.get(name)()


def task_of(model: str) -> Task:
    """The task whose model registry holds ``model`` (an error listing every model otherwise)."""
    if not isinstance(model, str):
        raise TypeError(f"model must be a string, got {type(model).__name__}")
    tasks = [get_task(name) for name in TASKS.names()]
    for task in tasks:
        if model in task.models():
            return task
    valid = sorted(name for task in tasks for name in task.models().names())
    raise ValueError(f"unknown model {model!r}; valid models: {', '.join(valid)}")
