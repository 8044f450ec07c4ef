"""The layer rules that import-linter (``nox -s lint``) cannot see: annotation-only imports,
call-backs, import cycles through function-level imports, private names. A stage function
never calls back into the object that called it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import mammokit
from mammokit.preprocess import chain
from mammokit.preprocess.stages import Stages

SRC = Path(mammokit.__file__).parent
#: Packages below ``pipeline``: they may not mention it, not even for annotations.
BELOW_PIPELINE = ("dicom", "preprocess")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_image_stages_never_import_the_pipeline() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for package in BELOW_PIPELINE
        for path in sorted((SRC / package).rglob("*.py"))
        if {"mammokit.preprocess.pipeline", "mammokit.app.run"} & _imported_modules(path)
    ]
    assert offenders == []


def test_the_chain_runs_from_the_stages_alone(tmp_path: Path) -> None:
    """``Pipeline.preprocess`` hands the chain a :class:`Stages` record, nothing that leads
    back to the Pipeline: the same call without any Pipeline gives the same output."""
    import numpy as np

    from mammokit.synthetic import SynthConfig, write_dataset

    write_dataset(tmp_path / "d", SynthConfig(patients=1, image_size=(256, 208), seed=3))
    path = next((tmp_path / "d" / "train_images").rglob("*.dcm"))
    pipe = mammokit.Pipeline(size=(64, 32))
    stages = pipe.stages
    assert isinstance(stages, Stages)
    import attrs

    values = [getattr(stages, f.name) for f in attrs.fields(Stages)]
    values += [getattr(stages.decode, f.name) for f in attrs.fields(type(stages.decode))]
    assert not any(isinstance(v, mammokit.preprocess.pipeline.ImagePipeline) for v in values)
    assert type(stages.decode).__module__ == "mammokit.dicom.decode"  # a lower layer's record
    del pipe
    alone = chain.preprocess(stages, path)
    again = mammokit.Pipeline(size=(64, 32)).preprocess(path)
    np.testing.assert_array_equal(alone.pixels, again.pixels)
    assert alone.crop_box == again.crop_box


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _owner(name: str) -> str | None:
    """The mammokit module that ``name`` (a module or a name in one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[str, str]]:
    """``(imported module, imported name or "")`` of every import of ``module`` that runs:
    at module level or inside functions, not under ``if TYPE_CHECKING:``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotations_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found += [(base, alias.name) for alias in node.names]
    return [(base, name) for base, name in found if base.split(".")[0] == "mammokit"]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module in MODULES:
        for base, name in _imports(module):
            target = _owner(f"{base}.{name}" if f"{base}.{name}" in MODULES else base)
            if target and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for node in graph:
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_import_graph_has_no_cycles() -> None:
    """Every import that runs, function-level ones included (import-linter's layers allow a
    cycle inside one layer and cannot see lazy imports)."""
    graph = _graph()
    assert sum(len(targets) for targets in graph.values()) > 200  # the walk sees the imports
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_across_modules() -> None:
    """``from mammokit.x import _name`` only for a package's own private module (such as
    ``mammokit.dicom._uids`` inside ``mammokit.dicom``), never for a private function, class
    or constant of another module."""
    offenders = [
        f"{module} imports {base}.{name}"
        for module in MODULES
        for base, name in _imports(module)
        if name.startswith("_")
        and not name.startswith("__")
        and not (f"{base}.{name}" in MODULES and module.startswith(base + "."))
    ]
    assert offenders == []


def test_the_layer_contract_names_every_module() -> None:
    """Every module and package at the root of ``mammokit`` is in import-linter's layers."""
    import re

    text = (SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    layers = re.search(r"layers = \[(.*?)\]", text, re.S)
    assert layers is not None
    named = {part.strip() for layer in re.findall(r'"([^"]+)"', layers.group(1))
             for part in layer.split("|")}  # fmt: skip
    roots = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert roots - {"__init__"} <= named, sorted(roots - named)
