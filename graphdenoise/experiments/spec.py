r"""Typed specifications of reproduction experiments: budgets, cells and experiment grids.

An experiment is ``datasets x backbones x methods x seeds`` under one :class:`Budget` (epochs, early
stopping rule, seed set and the learning-rate / L2 grid of the TIL paper's Section 5.4, reduced on
small budgets). :meth:`ExperimentSpec.groups` expands it into :class:`Group` s (one configuration
family whose lr / L2 is chosen on validation) and each group into :class:`Cell` s (one training run).
A cell is keyed by :meth:`Cell.config_hash`, a hash of everything that changes its result, so a cell
finished by any experiment is reused by every other one that needs it.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

Options = Tuple[Tuple[str, Any], ...]


def freeze_options(options: Optional[Mapping[str, Any]]) -> Options:
    """A mapping as a sorted tuple of ``(name, value)`` pairs (hashable, order-independent)."""
    if not options:
        return ()
    if isinstance(options, tuple):
        options = dict(options)
    return tuple(sorted((str(k), _freeze_value(v)) for k, v in options.items()))


def _freeze_value(value):
    if isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset by registered name, with loader options (e.g. ``rating_threshold=1`` for ML-100K)."""

    name: str
    """Name in :data:`graphdenoise.datasets.DATASETS` (``lastfm``, ``amazon-cd``, ``gowalla``, ``ml-100k``, ``synthetic``)."""
    options: Options = ()
    """Keyword arguments of :func:`~graphdenoise.datasets.load_dataset` (frozen into a sorted tuple)."""

    def __post_init__(self):
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "options", freeze_options(self.options))

    @property
    def label(self) -> str:
        if not self.options:
            return self.name
        return self.name + "[" + ",".join(f"{k}={v}" for k, v in self.options) + "]"


NOISE_KINDS = ("pos", "neg", "posneg")
NOISE_LABELS = {"clean": "Clean", "pos": "Noisy-Pos", "neg": "Noisy-Neg", "posneg": "Noisy-(Pos+Neg)"}


@dataclass(frozen=True)
class NoiseSpec:
    """Synthetic noise injected into the training edges (validation and test stay clean)."""

    kind: str
    """``pos`` (:class:`AddNoisyPositives`), ``neg`` (:class:`AddNoisyNegatives`) or ``posneg`` (:class:`AddNoisyPosNeg`)."""
    ratio: float
    """Share of each user's clean training positives (TIL paper, Sec. 5.6.2: 0.5)."""

    def __post_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        if not 0 < self.ratio:
            raise ValueError(f"noise ratio must be positive, got {self.ratio}")

    @property
    def label(self) -> str:
        return f"{NOISE_LABELS[self.kind]} {self.ratio:g}"


def noise_label(noise: Optional[NoiseSpec]) -> str:
    return "clean" if noise is None else f"{noise.kind}:{noise.ratio:g}"


@dataclass(frozen=True)
class Budget:
    """How much compute an experiment may use: epochs, early stopping, seeds and the tuning grid."""

    name: str
    """``tiny`` (tests), ``small`` (2 CPU cores, ~30 min for Table 1 on Last.fm) or ``paper``."""
    epochs: int
    """Maximum training epochs of every cell."""
    eval_every: int
    """Validation every this many epochs."""
    patience: int
    """Stop after this many evaluations without a better validation Recall@20."""
    seeds: Tuple[int, ...]
    """Seeds of every reported configuration (initialisation and sampling; the data split is fixed)."""
    lrs: Tuple[float, ...]
    """Learning-rate grid (paper: 1e-4, 1e-3, 1e-2)."""
    l2s: Tuple[float, ...]
    """L2 grid (paper: 1e-6 ... 1e-2)."""
    tune_all: bool = False
    """True: every method searches the grid; False: BPR searches it and the others reuse BPR's choice."""
    tune_seeds: int = 1
    """The grid is searched with the first ``tune_seeds`` seeds (mean validation Recall@20)."""
    method_grids: Tuple[Tuple[str, str, Tuple[Any, ...]], ...] = ()
    """Extra grids ``(method, option, values)``, e.g. TIL-MI's alpha and gamma (paper Sec. 5.4)."""
    batch_size: int = 5000
    """Triplets per batch (paper: 5000)."""
    epoch_shares: Tuple[Tuple[str, str, float], ...] = (("til-mi", "pretrain_epochs", 1 / 6),
                                                        ("til-mik", "pretrain_epochs", 1 / 6))
    """``(method, option, share)``: unless a group sets ``option``, it is ``share x epochs`` (at least 1);
    by default TIL-MI / TIL-MIK pre-train for a sixth of the epochs (paper: 500 of 3000)."""
    trials: int = 0
    """0: tuned groups search the ``lrs x l2s`` grid (and ``method_grids``); N > 0: N Optuna trials
    (:mod:`graphdenoise.tune`) per tuned group over the space the trainer and method declare, with
    median pruning, stored in ``<out>/tuning.db`` (resumable, shareable by concurrent runners)."""
    cluster_counts: Tuple[int, ...] = (1, 10, 20, 40, 60, 80, 100)
    """K values of the ``clusters`` experiment (paper Fig. 5: 1 ... 100)."""

    def __post_init__(self):
        for name in ("epochs", "eval_every", "tune_seeds", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"Budget.{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 0 or self.trials < 0:
            raise ValueError(f"Budget.patience and Budget.trials must be >= 0, got {self.patience}, {self.trials}")
        if not self.seeds or not self.lrs or not self.l2s:
            raise ValueError("Budget needs at least one seed, one lr and one l2")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Budget.seeds has duplicates: {self.seeds}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "lrs", tuple(float(v) for v in self.lrs))
        object.__setattr__(self, "l2s", tuple(float(v) for v in self.l2s))

    @property
    def tuning_seeds(self) -> Tuple[int, ...]:
        return self.seeds[: self.tune_seeds]

    def grid_for(self, method: str, tuned: bool) -> List[Tuple[float, float, Options]]:
        """The ``(lr, l2, extra options)`` points searched for ``method`` (one point if not tuned)."""
        if not tuned:
            return []
        extras = [(option, values) for m, option, values in self.method_grids if m == method]
        points = []
        for lr, l2 in itertools.product(self.lrs, self.l2s):
            for combo in itertools.product(*[values for _, values in extras]):
                points.append((lr, l2, freeze_options({opt: v for (opt, _), v in zip(extras, combo)})))
        return points

    def describe(self) -> str:
        extra = "".join(f"; {m} {opt} in {{{', '.join(f'{v:g}' for v in vals)}}}" for m, opt, vals in self.method_grids)
        tuned = ("every method" if self.tune_all else
                 "each block's control, BPR by default (the other methods reuse the control's lr and L2)")
        search = (f"{self.trials} Optuna trials (TPE, median pruning) over the method's declared search space,"
                  if self.trials else f"grid lr in {{{', '.join(f'{v:g}' for v in self.lrs)}}} x L2 in "
                  f"{{{', '.join(f'{v:g}' for v in self.l2s)}}}{extra},")
        shares = "".join(f"; {m} {opt} {self.epoch_share(m, opt)} epochs" for m, opt, _ in self.epoch_shares)
        return (f"budget `{self.name}`: at most {self.epochs} epochs, validation Recall@20 every {self.eval_every} "
                f"epochs, early stop after {self.patience} evaluations ({self.patience * self.eval_every} epochs) "
                f"without improvement; seeds {list(self.seeds)}; {search} searched by {tuned} on validation "
                f"Recall@20 of seed(s) {list(self.tuning_seeds)}; batch {self.batch_size}{shares}")

    def epoch_share(self, method: str, option: str) -> Optional[int]:
        """The value of ``option`` for ``method`` set from :attr:`epoch_shares` (None if not listed)."""
        for m, opt, share in self.epoch_shares:
            if m == method and opt == option:
                return max(1, int(round(self.epochs * share)))
        return None


#: The budgets known to ``graphdenoise experiment --budget``.
BUDGETS: Dict[str, Budget] = {
    # A few seconds per cell on a laptop: for tests and smoke runs.
    "tiny": Budget("tiny", epochs=2, eval_every=1, patience=1, seeds=(0, 1), lrs=(1e-2,), l2s=(1e-4,),
                   batch_size=2048, cluster_counts=(1, 4)),
    # Table 1 (MF and LightGCN, 7 methods) on Last.fm in about 30 minutes on 2 CPU cores.
    # Table 1 on Last.fm (2 backbones x 7 methods x 3 seeds + BPR's grid = 44 cells) took 5.3 min with
    # 10 epochs on 2 idle AMD EPYC cores (66 min while other jobs shared them): 40 epochs fit ~30 min.
    "small": Budget("small", epochs=40, eval_every=4, patience=3, seeds=(0, 1, 2), lrs=(1e-3, 1e-2), l2s=(1e-4,),
                    cluster_counts=(1, 10, 30, 60, 100)),
    # The natural-noise benchmark (issue 14) on one CPU core: every method searches the same small grid
    # (ML-100K natural: GMF ~10 s, LightGCN ~25 s a cell; add --l2s 0,1e-4 when time allows).
    "natural": Budget("natural", epochs=30, eval_every=3, patience=4, seeds=(0, 1, 2), lrs=(1e-3, 5e-3),
                      l2s=(0.0,), tune_all=True, batch_size=2048,
                      epoch_shares=(("deca-p", "pretrain_epochs", 1 / 3), ("sgdl", "max_memorization_epochs", 1 / 2))),
    # The paper's settings (Sec. 5.4): for a GPU.
    "paper": Budget("paper", epochs=3000, eval_every=10, patience=10, seeds=(0, 1, 2, 3, 4),
                    lrs=(1e-4, 1e-3, 1e-2), l2s=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2), tune_all=True, tune_seeds=1,
                    method_grids=(("til-mi", "alpha", (1e-2, 1e-1, 1.0, 5.0, 10.0)),
                                  ("til-mi", "gamma", (1e-4, 1e-3, 1e-2, 1e-1))),
                    cluster_counts=(1, 10, 20, 40, 60, 80, 100)),
}


def get_budget(budget) -> Budget:
    if isinstance(budget, Budget):
        return budget
    try:
        return BUDGETS[str(budget).lower()]
    except KeyError:
        raise ValueError(f"unknown budget {budget!r}; valid budgets: {', '.join(BUDGETS)}") from None


ANALYSES = ("case-study", "noise-roc", "natural-noise")


@dataclass(frozen=True)
class Cell:
    """One training run: everything that determines its result, and nothing else."""

    dataset: DatasetSpec
    backbone: str
    method: str
    seed: int
    lr: float
    l2: float
    epochs: int
    eval_every: int
    patience: int
    batch_size: int
    noise: Optional[NoiseSpec] = None
    options: Options = ()
    """Model / method / trainer options by name (e.g. ``num_clusters=10``), frozen."""
    analysis: Optional[str] = None
    """Post-training diagnostics stored with the cell: ``case-study``, ``noise-roc`` or ``natural-noise``."""
    split_seed: int = 0
    """Seed of the data split and of the injected noise: the same data for every seed and method."""

    def __post_init__(self):
        object.__setattr__(self, "options", freeze_options(self.options))
        object.__setattr__(self, "backbone", self.backbone.lower())
        object.__setattr__(self, "method", self.method.lower())
        if self.analysis is not None and self.analysis not in ANALYSES:
            raise ValueError(f"analysis must be one of {ANALYSES}, got {self.analysis!r}")

    def config(self) -> Dict[str, Any]:
        """The canonical configuration (JSON-able) that :meth:`config_hash` hashes."""
        out = asdict(self)
        out["dataset"] = {"name": self.dataset.name, "options": [list(kv) for kv in self.dataset.options]}
        out["options"] = [list(kv) for kv in self.options]
        out["noise"] = None if self.noise is None else {"kind": self.noise.kind, "ratio": float(self.noise.ratio)}
        out["lr"], out["l2"] = float(self.lr), float(self.l2)
        out["format"] = 1
        return out

    def config_hash(self) -> str:
        text = json.dumps(self.config(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def fit_options(self) -> Dict[str, Any]:
        """Keyword options of :func:`graphdenoise.fit` for this cell."""
        return dict(self.options, lr=self.lr, l2=self.l2, eval_every=self.eval_every, patience=self.patience,
                    batch_size=self.batch_size)


@dataclass(frozen=True)
class Group:
    """Cells that differ only by seed and by the searched grid point: one row of a report."""

    dataset: DatasetSpec
    backbone: str
    method: str
    noise: Optional[NoiseSpec] = None
    options: Options = ()
    """Fixed options of this configuration (e.g. ``num_clusters=10`` in the ``clusters`` experiment)."""
    analysis: Optional[str] = None
    tuned: bool = False
    """Search the budget's grid on validation (always true for the block's control)."""
    label: str = ""
    """Display name (default: the method name)."""
    control: bool = False
    """The block's tuned plain control (plain BPR unless :attr:`ExperimentSpec.backbone_methods` names
    another): gaps are measured against it and untuned groups reuse its lr / L2."""

    def __post_init__(self):
        object.__setattr__(self, "options", freeze_options(self.options))
        object.__setattr__(self, "method", self.method.lower())
        object.__setattr__(self, "backbone", self.backbone.lower())
        if not self.label:
            object.__setattr__(self, "label", self.method)

    @property
    def block(self) -> Tuple[DatasetSpec, str, Optional[NoiseSpec]]:
        """Groups of a block share the tuned control (BPR unless the spec names another)."""
        return (self.dataset, self.backbone, self.noise)

    def cell(self, budget: Budget, seed: int, lr: float, l2: float, extra: Options = (),
             split_seed: int = 0) -> Cell:
        options = dict(self.options)
        for method, option, _ in budget.epoch_shares:
            if method == self.method and option not in options:
                options[option] = budget.epoch_share(method, option)
        options.update(dict(extra))
        batch_size = options.pop("batch_size", budget.batch_size)  # a group may fix its own (CDAE's users)
        if isinstance(batch_size, tuple):  # per dataset: ((name, size), ...), "*" for any other
            sizes = dict(batch_size)
            batch_size = sizes.get(self.dataset.name, sizes.get("*", budget.batch_size))
        return Cell(dataset=self.dataset, backbone=self.backbone, method=self.method, seed=seed, lr=lr, l2=l2,
                    epochs=budget.epochs, eval_every=budget.eval_every, patience=budget.patience,
                    batch_size=batch_size, noise=self.noise, options=freeze_options(options),
                    analysis=self.analysis, split_seed=split_seed)


@dataclass(frozen=True)
class ExperimentSpec:
    """A declarative experiment: datasets x backbones x methods (x noises x variants) x seeds, one budget."""

    name: str
    """One of :data:`graphdenoise.experiments.EXPERIMENTS` (``table1``, ``robustness``...)."""
    datasets: Tuple[DatasetSpec, ...]
    backbones: Tuple[str, ...]
    methods: Tuple[str, ...]
    budget: Budget
    noises: Tuple[Optional[NoiseSpec], ...] = (None,)
    """Data settings; ``None`` is the clean data."""
    variants: Tuple[Tuple[str, Options], ...] = ()
    """Extra configurations ``(label, options)`` applied to ``variant_methods`` (e.g. K of TIL-MI)."""
    variant_methods: Tuple[str, ...] = ()
    method_options: Tuple[Tuple[str, Options], ...] = ()
    """Fixed options per method ``(method, options)``, e.g. ``(("tce", (("drop_rate", 0.1),)),)``."""
    backbone_options: Tuple[Tuple[str, str, Options], ...] = ()
    """Fixed options of a method on one backbone ``(backbone, method, options)``, added to
    :attr:`method_options` and to the :attr:`configurations` of that method on that backbone, e.g.
    ``(("cdae", "tce", (("batches", "auto"),)),)``: T-CE on CDAE's user batches, as the RecSys'25 study
    trains its CDAE; the other backbones' cells (and their stored results) are unchanged. A
    ``batch_size`` option replaces the budget's batch size for those cells: a number, or per dataset
    ``(("ml-100k-natural", 64), ("modcloth", 1024), ("*", 64))`` (``"*"``: any other dataset)."""
    backbone_methods: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    """``(backbone, labels)``: on that backbone run only the groups with these labels (method names
    or :attr:`configurations` labels), the first being the block's tuned control instead of BPR, e.g.
    ``(("cdae", ("erm-bce", "tce", "rce", "deca", "deca-p", "udt")),)``: the methods the RecSys'25
    study runs on CDAE, beside its pointwise ERM."""
    configurations: Tuple[Tuple[str, str, Options], ...] = ()
    """Extra labelled groups ``(label, method, options)`` after the methods (e.g. TIL's outer-loss variants);
    tuned like their method, or given the tuned BPR's lr and L2."""
    analysis: Dict[str, str] = field(default_factory=dict)
    """Method -> analysis to run after training (``noise-roc``, ``case-study``)."""
    split_seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "datasets", tuple(d if isinstance(d, DatasetSpec) else DatasetSpec(d)
                                                   for d in self.datasets))
        object.__setattr__(self, "backbones", tuple(b.lower() for b in self.backbones))
        methods = [m.lower() for m in self.methods]
        if "bpr" in methods:
            methods.remove("bpr")
        object.__setattr__(self, "methods", tuple(["bpr"] + methods))  # the tuned control comes first
        if not self.datasets or not self.backbones:
            raise ValueError("an experiment needs at least one dataset and one backbone")
        known = set(self.methods) | {label for label, _, _ in self.configurations} | {v for v, _ in self.variants}
        for backbone, labels in self.backbone_methods:  # the others may have been left out (--methods)
            if not labels or labels[0] not in known:
                raise ValueError(f"backbone_methods of {backbone!r}: its control {labels[0] if labels else None!r} "
                                 f"is not among the experiment's methods and configurations ({', '.join(sorted(known))})")

    def groups(self) -> List[Group]:
        """Every configuration of the experiment, the tuned control (BPR by default) first in each block."""
        out = []
        restricted = {backbone.lower(): tuple(labels) for backbone, labels in self.backbone_methods}
        for dataset, backbone, noise in itertools.product(self.datasets, self.backbones, self.noises):
            block = []
            for method in self.methods:
                variants = [(v_label, v_opts) for v_label, v_opts in self.variants] \
                    if method in self.variant_methods else [("", ())]
                fixed = {**dict(dict(self.method_options).get(method, ())), **self._on_backbone(backbone, method)}
                for v_label, v_opts in variants:
                    block.append(Group(dataset, backbone, method, noise, {**fixed, **dict(v_opts)},
                                       self.analysis.get(method), self.budget.tune_all, label=v_label or method))
            for label, method, options in self.configurations:
                method = method.lower()
                block.append(Group(dataset, backbone, method, noise, {**dict(options), **self._on_backbone(backbone, method)},
                                   self.analysis.get(method), self.budget.tune_all, label=label))
            labels = restricted.get(backbone, ("bpr",))
            if backbone in restricted:
                block = sorted((g for g in block if g.label in labels), key=lambda g: labels.index(g.label))
            out.extend(replace(g, tuned=True, control=True) if i == 0 and g.label == labels[0] else g
                       for i, g in enumerate(block))
        return out

    def _on_backbone(self, backbone: str, method: str) -> Dict[str, Any]:
        """The :attr:`backbone_options` of ``method`` on ``backbone``."""
        out: Dict[str, Any] = {}
        for name, target, options in self.backbone_options:
            if name.lower() == backbone and target.lower() == method:
                out.update(dict(options))
        return out

    def with_budget(self, budget: Budget) -> "ExperimentSpec":
        return replace(self, budget=budget)


def unique(items: Iterable) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def parse_list(text: Optional[str], kind=str) -> Optional[Tuple]:
    """``"a,b"`` -> ``("a", "b")`` (None stays None)."""
    if text is None:
        return None
    return tuple(kind(item.strip()) for item in text.split(",") if item.strip())


def dataset_spec(name: str, options: Optional[Mapping[str, Any]] = None) -> DatasetSpec:
    return DatasetSpec(name, freeze_options(options))


__all__ = ["Budget", "BUDGETS", "Cell", "DatasetSpec", "ExperimentSpec", "Group", "NoiseSpec", "NOISE_LABELS",
           "freeze_options", "get_budget", "noise_label", "parse_list", "dataset_spec"]
