r"""graphdenoise: training recommenders on noisy implicit feedback, on PyTorch Geometric.

``graphdenoise.fit(dataset="gowalla", model="lightgcn", method="til-mi")`` trains and evaluates in one
call; the registries below are the names that ``fit``, the CLI and the benchmarks share.
"""
from .api import fit
from .result import FitResult, load
from .datasets import DATASETS  # noqa: F401
from .methods import METHODS
from .models import MODELS

__version__ = "0.1.0"
__all__ = ["fit", "load", "FitResult", "DATASETS", "MODELS", "METHODS", "__version__"]
