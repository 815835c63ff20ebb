r""":func:`fit_sequence`: train and evaluate a sequence encoder with a sequential method in one call."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, Optional, Union

import torch
from torch_geometric.data import HeteroData

from ..result import FitResult
from ..train.run import fingerprinted, run_callbacks, train_and_evaluate
from ..utils import seed_everything
from .data import SequenceData, SequenceDataConfig
from .methods import SequenceMethod
from .models.base import SequenceModel
from .trainer import SequenceTrainer, SequenceTrainerConfig


def route_options(model_cls, method_cls, options: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    r"""Route keyword options to the ``data``, ``trainer``, ``model`` and ``method`` configs by field
    name (:func:`graphdenoise.options.route_options`: unknown and ambiguous names are errors)."""
    from ..tasks import SequentialTask
    from ..options import config_fields, route_options as route
    owners = {key: config_fields(cls) for key, cls in SequentialTask().owners(model_cls, method_cls).items()}
    return route(owners, options, f"model {model_cls.__name__} and method {method_cls.__name__}",
                 SequentialTask.reserved)


def fit_sequence(data: Union[HeteroData, SequenceData], model: str = "din", method: str = "bce", *,
                 epochs: Optional[int] = None, device: Optional[str] = None, seed: int = 0,
                 show_progress: bool = False, **options) -> FitResult:
    r"""Train the sequence encoder ``model`` with ``method`` on the sequential view of ``data`` and
    evaluate it (model selection on validation AUC only; test evaluated once, for the selected state).

    The sequential task **re-splits by time**: the graph splits of ``data`` are pooled, sorted by
    ``(user, timestamp)`` and split per user chronologically (:class:`SequenceData`), so ``data``
    needs a timestamp on every split. For MovieLens-100K load every rating as an interaction
    (``load_dataset('ml-100k', rating_threshold=None)``), as the ATJT paper counts every rating of
    MovieLens-20M as a sample.

    Args:
        data (HeteroData or SequenceData): Interactions in graphdenoise's layout, or a prebuilt view
            (then data options must not be given).
        model (str): ``widedeep``, ``din`` or ``sasrec``. (default: ``"din"``)
        method (str): ``bce``, ``atjt``, ``atjt-wat`` or ``atjt-dnr``. (default: ``"bce"``)
        epochs (int, optional): Maximum epochs. (default: 20)
        device (str, optional): ``cpu``, ``cuda``... (default: CUDA when available)
        seed (int): Fixes negatives, initialisation, batching, partition, replacements and the fixed
            evaluation negatives; results are deterministic on CPU. (default: 0)
        show_progress (bool): One line per evaluation. (default: :obj:`False`)
        **options: Fields of :class:`SequenceDataConfig` (``max_len``, ``split``, ``num_negatives``,
            ``eval_negatives``...), :class:`SequenceTrainerConfig` (``batch_size``, ``lr``,
            ``patience``...), the model's config (``embedding_dim``...) and the method's config
            (``num_groups``, ``alpha``, ``recognizer_lr``...), by name.

    Returns:
        :class:`graphdenoise.result.FitResult` with ``metrics = {'val': {...}, 'test': {...}}`` (keys
        ``auc``, ``hr@5``, ``ndcg@5``). For the ATJT family ``result.method.weight_stats`` holds the
        clean vs noisy mean weights (the paper's Table 5) of the last epoch, and the history has
        ``w_clean`` / ``w_noisy`` per epoch.
    """
    from .methods import SEQUENCE_METHODS
    from .models import SEQUENCE_MODELS

    routed = route_options(SEQUENCE_MODELS.get(model), SEQUENCE_METHODS.get(method), options)
    return train_sequence(data, model, method, routed, epochs=epochs, device=device, seed=seed,
                          show_progress=show_progress)


def train_sequence(data: Union[HeteroData, SequenceData], model: str, method: str,
                   routed: Dict[str, Dict[str, Any]], *, epochs: Optional[int], device: Optional[str], seed: int,
                   show_progress: bool, described: Optional[dict] = None,
                   callbacks: Optional[list] = None) -> FitResult:
    """:func:`fit_sequence` with options already routed to their configs."""
    from .methods import SEQUENCE_METHODS
    from .models import SEQUENCE_MODELS

    model_cls, method_cls = SEQUENCE_MODELS.get(model), SEQUENCE_METHODS.get(method)
    if epochs is not None:
        routed["trainer"]["epochs"] = epochs
    trainer_config = SequenceTrainerConfig(seed=seed, device=device, show_progress=show_progress, **routed["trainer"])
    if isinstance(data, SequenceData):
        if routed["data"]:
            raise ValueError(f"data options {sorted(routed['data'])} cannot change a prebuilt SequenceData; "
                             "pass the HeteroData instead")
        view = data
    elif isinstance(data, HeteroData):
        view = SequenceData(data, SequenceDataConfig(**routed["data"]), seed=seed)
    else:
        raise TypeError(f"data must be a HeteroData or a SequenceData, got {type(data).__name__}")
    seed_everything(seed)
    net: SequenceModel = model_cls.from_data(view, **routed["model"])
    algo: SequenceMethod = method_cls(**routed["method"])
    described = {"data_config": asdict(view.config), **(described or {})}
    trainer_config, fingerprint = fingerprinted(net, algo, view, trainer_config, model, method, seed, described)
    config = {"dataset": "<SequenceData>" if isinstance(data, SequenceData) else "<HeteroData>",
              "task": "sequential", "model": model.lower(), "method": method.lower(),
              "data_config": asdict(view.config), "model_config": asdict(net.config),
              "method_config": asdict(algo.config), "trainer": asdict(trainer_config), "torch": str(torch.__version__)}
    callbacks = run_callbacks(callbacks, trainer_config, {"model": net, "method": algo}, config)
    trainer = SequenceTrainer(net, algo, view, trainer_config, callbacks=callbacks, fingerprint=fingerprint)
    result = train_and_evaluate(trainer, config)
    net.attach_history(view)
    return result
