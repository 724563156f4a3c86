"""The package's layers import one way, downwards (docs/architecture.md).

Every ``import`` of every module is read from the source -- also those inside
functions -- and mapped to the part of the package it belongs to (a
subpackage, or a top-level module). An import from one part to another must
go to a lower layer: parts of one layer (models and attacks, say) do not know
each other. Within a part the modules import each other without a circle.
"""

import ast
import os
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sk_uae"

# lowest first; docs/architecture.md shows the same table
LAYERS = [
    ["sk_uae.utils", "sk_uae.exceptions"],
    ["sk_uae._nn", "sk_uae.mine", "sk_uae.datasets", "sk_uae._streaming", "sk_uae._plots",
     "sk_uae.metric_learning", "sk_uae.constraints", "sk_uae.tabular"],
    ["sk_uae.models", "sk_uae.attacks"],
    ["sk_uae._base", "sk_uae.metrics", "sk_uae.callbacks"],
    ["sk_uae._generator"],
    ["sk_uae._augmenter", "sk_uae._sampler"],
    ["sk_uae.evaluation"],
    ["sk_uae.cli"],
    ["sk_uae"],  # the package's face: re-exports the estimators
]
LAYER_OF = {part: i for i, parts in enumerate(LAYERS) for part in parts}
ESTIMATOR_MODULES = ["_base.py", "_generator.py", "_augmenter.py", "_sampler.py"]


def _module_name(path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(name, path):
    """Every sk_uae module that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from x import y` imports x.y when y is a module
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            found.update(subs or [target])
    return {m for m in found if m == "sk_uae" or m.startswith("sk_uae.")}


def _part(module):
    """The part of the package ``module`` belongs to (longest match in LAYERS)."""
    best = None
    for part in LAYER_OF:
        if module == part or module.startswith(part + "."):
            if best is None or len(part) > len(best):
                best = part
    return best


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_module_belongs_to_a_layer():
    assert {m for m in MODULES if _part(m) is None} == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down(module):
    src = _part(module)
    for target in GRAPH[module]:
        dst = _part(target)
        if dst == src:
            continue
        assert LAYER_OF[dst] < LAYER_OF[src], (
            f"{module} imports {target}: layer {LAYER_OF[src]} ({src}) reaches layer "
            f"{LAYER_OF[dst]} ({dst}), not below it")


def test_no_circle_between_modules():
    _assert_acyclic({m: {t for t in ts if t != m} for m, ts in GRAPH.items()})


def _assert_acyclic(edges):
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_parser_sees_an_import_inside_a_function(tmp_path):
    # the old ContrastiveNet.uae_objective imported the attacks inside a method
    path = tmp_path / "_contrastive.py"
    path.write_text("def f():\n    from ..attacks import ContrastiveObjective\n")
    found = _imports("sk_uae.models._contrastive", path)
    assert found == {"sk_uae.attacks"}
    assert not LAYER_OF[_part("sk_uae.attacks")] < LAYER_OF[_part("sk_uae.models")]


@pytest.mark.parametrize("filename", ESTIMATOR_MODULES)
def test_estimators_do_not_look_inside_attacks(filename):
    """The estimators call the attack's hooks; they never inspect it (getattr, isinstance)."""
    tree = ast.parse((PACKAGE / filename).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert "inspect" not in [a.name for a in node.names], filename
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "hasattr", "isinstance") and node.args:
            subject = ast.unparse(node.args[0])
            assert "attack" not in subject, f"{filename}: {ast.unparse(node)}"


def test_attack_baselines_are_attack_objects():
    """The command line builds its baselines from attack objects, not by hand."""
    source = (PACKAGE / "cli.py").read_text()
    assert "rng.choice([-1.0, 1.0]" not in source and "baseline_attack(" in source
    assert "np.clip(" not in source


def test_public_import_paths_are_unchanged():
    import sk_uae.attacks as attacks
    import sk_uae.models as models

    for name in ("ContrastiveObjective", "MarginObjective", "ReconstructionObjective",
                 "resolve_objective"):
        assert hasattr(attacks, name)
    for name in ("ImageAugment", "TabularAugment", "NTXentLoss", "nt_xent", "nt_xent_bank",
                 "first_layer_features"):
        assert hasattr(models, name)


def test_layers_match_the_architecture_page():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for parts in LAYERS:
        for part in parts:
            assert f"`{part}`" in page, f"docs/architecture.md does not place {part}"
    assert os.path.basename(__file__) in page
