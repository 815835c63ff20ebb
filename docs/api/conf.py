"""Sphinx configuration of graphdenoise's API reference (built from the docstrings).

Build with warnings as errors, as CI does::

    pip install -e .[docs]
    sphinx-build -W --keep-going -b html docs/api /tmp/graphdenoise-api
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

project = "graphdenoise"
author = "graphdenoise contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shapes", "params_style")]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # PyG style: types are written in the Args section
autodoc_mock_imports = ["optuna", "mlflow", "tensorboard", "matplotlib"]
autoclass_content = "class"
suppress_warnings = ["ref.python"]
html_theme = "alabaster"
exclude_patterns = ["_build"]
