r"""The reproduction harness: declarative experiments (Table 1, Figures 3-7 of the TIL paper, noise ROC)
run resumably into a results folder, with CSV rows per cell, markdown reports and PNG figures.

::

    from graphdenoise.experiments import make_spec, run

    spec = make_spec("table1", budget="small", datasets=["lastfm"])
    result, report, figures = run(spec, "results/", data_dir="../shared/datasets")

or ``graphdenoise experiment table1 --datasets lastfm --budget small --data-dir ../shared/datasets --out results/``.
"""
from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_EXPORTS = {
    **dict.fromkeys(["EXPERIMENTS", "Experiment", "get_experiment", "make_spec", "run"], ".experiments"),
    "PAPER_TABLE1": ".paper:TABLE1",
    **dict.fromkeys(["ExperimentRun", "mean_std", "run_experiment", "select_on_validation"], ".runner"),
    **dict.fromkeys(["BUDGETS", "Budget", "Cell", "DatasetSpec", "ExperimentSpec", "Group", "NoiseSpec", "get_budget"],
                    ".spec"),
    **dict.fromkeys(["ResultStore", "read_csv"], ".store"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)  # the CLI's help imports this package: no torch here

if TYPE_CHECKING:
    from .experiments import EXPERIMENTS, Experiment, get_experiment, make_spec, run  # noqa: F401
    from .paper import TABLE1 as PAPER_TABLE1  # noqa: F401
    from .runner import ExperimentRun, mean_std, run_experiment, select_on_validation  # noqa: F401
    from .spec import BUDGETS, Budget, Cell, DatasetSpec, ExperimentSpec, Group, NoiseSpec, get_budget  # noqa: F401
    from .store import ResultStore, read_csv  # noqa: F401

__all__ = ["BUDGETS", "Budget", "Cell", "DatasetSpec", "EXPERIMENTS", "Experiment", "ExperimentRun",
           "ExperimentSpec", "Group", "NoiseSpec", "PAPER_TABLE1", "ResultStore", "get_budget", "get_experiment",
           "make_spec", "mean_std", "read_csv", "run", "run_experiment", "select_on_validation"]
