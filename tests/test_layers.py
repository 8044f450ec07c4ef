"""The layer rules that import-linter (``nox -s lint``) cannot see: annotation-only imports
and call-backs. A stage function never calls back into the object that called it."""

from __future__ import annotations

import ast
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
        if {"mammokit.pipeline", "mammokit.run"} & _imported_modules(path)
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
    values += list(getattr(stages.decode, "args", ()))  # the decode partial's bound arguments
    assert not any(isinstance(v, mammokit.pipeline.Pipeline) for v in values)
    del pipe
    alone = chain.preprocess(stages, path)
    again = mammokit.Pipeline(size=(64, 32)).preprocess(path)
    np.testing.assert_array_equal(alone.pixels, again.pixels)
    assert alone.crop_box == again.crop_box
