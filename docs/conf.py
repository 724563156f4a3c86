"""Sphinx configuration of the sk_uae documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``: the API
reference comes from the numpydoc docstrings, the gallery runs the scripts in
``examples/`` and the Markdown pages are read by MyST.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import sk_uae  # noqa: E402

project = "sk_uae"
author = "the sk_uae developers"
copyright = "2026, the sk_uae developers"
release = sk_uae.__version__
version = release.split(".dev")[0]

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
templates_path = ["_templates"]
default_role = "literal"
nitpicky = False

# API reference: one page per public object, numpydoc sections.
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# every parameter documented, with a description; no unknown ones
numpydoc_validation_checks = {"PR01", "PR02", "PR07"}

intersphinx_mapping = {}  # no network at build time

myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

html_theme = "pydata_sphinx_theme"
html_title = f"sk_uae {version}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

# The gallery: every examples/plot_*.py runs during the build (on small data,
# a few minutes in all); a failing example fails the build.
sphinx_gallery_conf = {
    "examples_dirs": os.path.join(HERE, "..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 5,
    "capture_repr": (),  # printed output only, no estimator reprs
}

# Examples run in this process: one torch thread keeps timings steady on
# small machines; headless matplotlib.
os.environ.setdefault("MPLBACKEND", "Agg")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods.

    They are metadata-routing plumbing, and their docstrings point into
    scikit-learn's own glossary.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
