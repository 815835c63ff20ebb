r"""One call: :func:`fit` trains and evaluates a recommender; :func:`load` restores a saved result."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from torch_geometric.data import HeteroData

from .datasets.graph import INTERACTS
from .options import config_fields
from .result import FitResult, load, raw_ids
from .tasks import Task, task_of

__all__ = ["fit", "load", "FitResult", "option_names", "route_run_options"]


def option_names(model: str, method: str) -> set:
    r"""Every option name :func:`fit` routes for ``model`` and ``method``: the fields of the task's
    trainer (and data) configs, of the model's and of the method's config."""
    task = task_of(model)
    owners = task.owners(task.models().get(model), task.methods().get(method))
    return set().union(*(config_fields(cls) for cls in owners.values())) - set(task.reserved)


def route_run_options(model: str, method: str, options: Dict[str, Any], *, epochs: Optional[int] = None,
                      seed: int = 0, validate: bool = False) -> Dict[str, Dict[str, Any]]:
    r"""Routes ``options`` to the configs of ``model`` and ``method`` by field name (the one router of
    :func:`fit`); with ``validate`` also builds each typed config, so that a bad value fails before any
    data is read. Unknown or ambiguous names are a :class:`ValueError`."""
    task = task_of(model)
    routed = task.route(model, method, options)
    if validate:
        owners = task.owners(task.models().get(model), task.methods().get(method))
        for key, config_cls in owners.items():
            extra = {"seed": seed, **({"epochs": epochs} if epochs is not None else {})} if key == "trainer" else {}
            config_cls(**extra, **routed[key])
    return routed


def fit(dataset: Union[str, HeteroData] = "synthetic", model: str = "lightgcn", method: str = "bpr", *,
        epochs: Optional[int] = None, device: Optional[str] = None, seed: int = 0, data_dir: Optional[str] = None,
        dataset_options: Optional[Dict[str, Any]] = None, noisy_positives: float = 0.0,
        noisy_negatives: float = 0.0, show_progress: Optional[bool] = None, distributed: bool = False,
        callbacks: Optional[List] = None, **options) -> FitResult:
    r"""Train ``model`` with ``method`` on ``dataset`` and evaluate it (model selection on validation only).

    Defaults are the ones a user should start from: LightGCN with one layer (the TIL paper's backbone
    setting; the strongest backbone here at the cost of a cheap sparse product per batch), plain BPR
    (the control every denoiser must beat), Adam with lr 1e-3 and L2 1e-4, batch 5000, at most 300
    epochs with validation every 5 and patience 5 evaluations.

    Args:
        dataset (str or HeteroData): A registered name (``gowalla``, ``amazon-cd``, ``lastfm``,
            ``ml-100k``, ``ml-100k-natural``, ``modcloth``, ``synthetic``), the path of your own
            CSV/TSV interaction file (column options in ``dataset_options``, see
            :func:`~graphdenoise.datasets.load_dataset`) or a :class:`HeteroData` in graphdenoise's layout.
        model (str): A graph backbone (``mf``, ``neumf``, ``lightgcn``, ``mgccf``) or a sequence
            encoder (``widedeep``, ``din``, ``sasrec``: the sequential task of
            :mod:`graphdenoise.sequential`). (default: ``"lightgcn"``)
        method (str): ``bpr`` or a denoising method of the model's task. (default: ``"bpr"``)
        epochs (int, optional): Maximum epochs. (default: 300)
        device (str, optional): ``cpu``, ``cuda``... (default: CUDA when available)
        seed (int): Fixes split, initialisation, sampling and results on CPU. (default: 0)
        data_dir (str, optional): Folder of raw files (else ``$GRAPHDENOISE_DATA``, else download).
        dataset_options (dict, optional): Passed to the dataset loader (``split``, ``min_interactions``...).
        noisy_positives (float): Inject this ratio of noisy positives into the training edges. (default: 0)
        noisy_negatives (float): Flip this ratio of training positives to negatives. (default: 0)
        show_progress (bool, optional): An overall bar (epoch N of max, ETA, best validation metric)
            over a per-batch bar; :obj:`None` shows it when stderr is a terminal or in Jupyter.
            (default: :obj:`None`)
        distributed (bool): Data-parallel training inside an initialised ``torch.distributed``
            process group (e.g. under ``torchrun``); every rank calls ``fit`` with the same arguments
            and gets the same result. (default: :obj:`False`)
        callbacks (list, optional): Called as ``callback(epoch, record)`` after every epoch, e.g. the
            :mod:`graphdenoise.train.tracking` loggers (a run with a checkpoint folder also writes
            ``log.csv`` there). (default: :obj:`None`)
        **options: Fields of the task's trainer config (:class:`~graphdenoise.train.TrainerConfig`),
            of the model's config and of the method's config, by name (e.g. ``lr=5e-3``,
            ``num_layers=2``, ``drop_rate=0.1``); a name that two configs share is an error.
            ``resume=True`` without ``checkpoint_dir`` uses
            ``runs/<dataset>_<model>_<method>_seed<N>_<hash of the run's fingerprint>``.

    Raises:
        ResumeMismatchError: ``resume=True`` found a checkpoint of another run (names the differing fields).
        NonFiniteError: A loss, parameter or optimiser state became NaN or inf (names epoch, step, tensor).
        TrainingInterrupted: Ctrl-C or SIGTERM; ``.result`` is the best state so far (``interrupted=True``).
    """
    from .runconfig import resolved_run
    from .train.progress import resolve_show_progress
    arguments = dict(dataset=dataset if isinstance(dataset, str) else "<HeteroData>", model=model, method=method,
                     epochs=epochs, device=device, seed=seed, data_dir=data_dir, dataset_options=dataset_options or {},
                     noisy_positives=noisy_positives, noisy_negatives=noisy_negatives, distributed=distributed)
    show_progress = resolve_show_progress(show_progress)
    task = task_of(model)
    task.methods().get(method)  # an unknown method is named before the data is loaded
    routed = task.route(model, method, options)
    if (noisy_positives or noisy_negatives) and task.name != "interactions":
        raise ValueError(f"noisy_positives / noisy_negatives corrupt the interaction graph; the {task.name} task of "
                         f"model {model!r} does not take them")
    data = _resolve_dataset(dataset, data_dir, seed, _dataset_options(task, dataset, dataset_options))
    data = _add_noise(data, noisy_positives, noisy_negatives, seed)
    described = {"dataset": dataset if isinstance(dataset, str) else "<HeteroData>",
                 "dataset_options": dataset_options or {}, "noisy_positives": noisy_positives,
                 "noisy_negatives": noisy_negatives}
    result = task.fit(data, model, method, routed, epochs=epochs, device=device, seed=seed,
                      show_progress=show_progress, distributed=distributed, described=described,
                      callbacks=callbacks)
    result.config.update(described)
    result.user_ids, result.item_ids = raw_ids(data, "user"), raw_ids(data, "item")  # same node indices
    result.config["run"] = resolved_run(result.config, arguments)
    return result


def _dataset_options(task: Task, dataset, options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``options`` plus the task's loader defaults that the named dataset's loader accepts."""
    options = dict(options or {})
    if isinstance(dataset, str) and task.dataset_defaults:
        import inspect

        from .datasets import DATASETS
        accepted = inspect.signature(DATASETS.get(dataset).__init__).parameters
        for name, value in task.dataset_defaults.items():
            if name in accepted:
                options.setdefault(name, value)
    return options


def _resolve_dataset(dataset, data_dir, seed, dataset_options) -> HeteroData:
    if isinstance(dataset, HeteroData):
        if INTERACTS not in dataset.edge_types:
            raise ValueError(f"a HeteroData dataset needs the edge type {INTERACTS} (see docs/data-schema.md)")
        return dataset
    if isinstance(dataset, str):
        from .datasets import load_dataset
        return load_dataset(dataset, data_dir=data_dir, seed=seed, **dataset_options)
    raise TypeError(f"dataset must be a name or a HeteroData, got {type(dataset).__name__}")


def _add_noise(data: HeteroData, noisy_positives: float, noisy_negatives: float, seed: int) -> HeteroData:
    """Noisy positives, then noisy negatives among the clean training edges (:class:`AddNoisyPosNeg`
    is the same two steps with one ratio)."""
    if not (noisy_positives or noisy_negatives):
        return data
    from .datasets.noise import AddNoisyNegatives, AddNoisyPositives
    data = data.clone()
    if noisy_positives:
        data = AddNoisyPositives(noisy_positives, seed=seed)(data)
    if noisy_negatives:
        data = AddNoisyNegatives(noisy_negatives, seed=seed)(data)
    return data
