r"""graphdenoise: training recommenders on noisy implicit feedback, on PyTorch Geometric.

``graphdenoise.fit(dataset="gowalla", model="lightgcn", method="til-mi")`` trains and evaluates in one
call; the registries below are the names that ``fit``, the CLI and the benchmarks share.

The public names are imported on first use (:mod:`graphdenoise._lazy`), so ``import graphdenoise``
and the CLI's help do not pay for importing torch and PyTorch Geometric; their names without any
import are in :mod:`graphdenoise.catalog`.
"""
from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"
__all__ = ["fit", "load", "FitResult", "DATASETS", "MODELS", "METHODS", "__version__"]

__getattr__, __dir__ = lazy_attributes(__name__, {
    "fit": ".api", "load": ".result", "FitResult": ".result",
    "DATASETS": ".datasets", "MODELS": ".models", "METHODS": ".methods",
})

if TYPE_CHECKING:  # for static analysis and IDEs
    from .api import fit  # noqa: F401
    from .result import FitResult, load  # noqa: F401
    from .datasets import DATASETS  # noqa: F401
    from .methods import METHODS  # noqa: F401
    from .models import MODELS  # noqa: F401
