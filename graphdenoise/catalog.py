r"""The public names of every registry, without importing the modules that register them.

``graphdenoise list``, the CLI's help and its name checks read these tuples, so they answer in well
under a second (no torch import). Each must equal the names its registry holds once the modules are
imported (``Registry.names()``): ``tests/test_startup.py`` checks it, so a new model, method, dataset
or experiment is added to its registry AND here.
"""
from __future__ import annotations

from typing import Dict, Tuple

DATASETS: Tuple[str, ...] = ("amazon-cd", "gowalla", "lastfm", "ml-100k", "ml-100k-natural", "modcloth", "synthetic")
MODELS: Tuple[str, ...] = ("cdae", "gmf", "lightgcn", "mf", "mgccf", "neumf")
METHODS: Tuple[str, ...] = ("aobpr", "bod", "bpr", "bsl", "bsl-tanh", "dcf", "deca", "deca-p", "pld", "pris", "rce",
                            "rce-bpr", "sgdl", "tce", "tce-bpr", "til-mi", "til-mik", "til-ui", "udt", "wbpr")
SEQUENCE_MODELS: Tuple[str, ...] = ("din", "sasrec", "widedeep")
SEQUENCE_METHODS: Tuple[str, ...] = ("atjt", "atjt-dnr", "atjt-wat", "bce")
EXPERIMENTS: Tuple[str, ...] = ("table1", "robustness", "case-study", "clusters", "time", "ablation", "noise-roc",
                                 "natural-noise")

REGISTRIES: Dict[str, Tuple[str, str]] = {
    "DATASETS": ("graphdenoise.datasets", "DATASETS"),
    "MODELS": ("graphdenoise.models", "MODELS"),
    "METHODS": ("graphdenoise.methods", "METHODS"),
    "SEQUENCE_MODELS": ("graphdenoise.sequential", "SEQUENCE_MODELS"),
    "SEQUENCE_METHODS": ("graphdenoise.sequential", "SEQUENCE_METHODS"),
    "EXPERIMENTS": ("graphdenoise.experiments.experiments", "EXPERIMENTS"),
}
"""Where each tuple's registry lives: ``name -> (module, attribute)``."""
