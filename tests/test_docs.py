"""The API reference lists every public name, and the gallery scripts are well formed."""

import ast
import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLIC = ["sk_uae", "sk_uae.attacks", "sk_uae.models", "sk_uae.mine", "sk_uae.metrics",
          "sk_uae.metric_learning", "sk_uae.datasets", "sk_uae.utils",
          "sk_uae.exceptions"]


def _api_entries():
    """``{module: set of names}`` from the autosummary blocks of docs/api.rst."""
    entries, module = {}, None
    with open(os.path.join(ROOT, "docs", "api.rst")) as fh:
        for line in fh:
            m = re.match(r"\.\. currentmodule:: (\S+)", line)
            if m:
                module = m.group(1)
                entries.setdefault(module, set())
            elif module and re.match(r"   [A-Za-z_]\w*$", line.rstrip("\n")):
                entries[module].add(line.strip())
    return entries


@pytest.mark.parametrize("module", PUBLIC)
def test_api_reference_lists_every_public_name(module):
    names = {n for n in importlib.import_module(module).__all__ if not n.startswith("__")}
    listed = _api_entries().get(module, set())
    assert names - listed == set(), f"missing from docs/api.rst under {module}"
    assert listed - names == set(), f"docs/api.rst lists names that {module} does not export"


def _examples():
    folder = os.path.join(ROOT, "examples")
    return sorted(f for f in os.listdir(folder) if f.endswith(".py"))


def test_there_are_examples():
    assert len(_examples()) >= 4


@pytest.mark.parametrize("name", _examples())
def test_example_has_a_gallery_title_and_runs_headless(name):
    with open(os.path.join(ROOT, "examples", name)) as fh:
        source = fh.read()
    assert name.startswith("plot_"), "sphinx-gallery runs only files matching /plot_"
    doc = ast.get_docstring(ast.parse(source))
    lines = [ln for ln in doc.splitlines() if ln.strip()]
    assert set(lines[0]) == {"="} and set(lines[2]) == {"="}, "RST title with over/underline"
    assert len(lines[0]) == len(lines[1]) == len(lines[2]), "title rule length"
    assert "plt.show()" not in source, "figures are collected by the gallery, not shown"
