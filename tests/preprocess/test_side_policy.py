"""The side policy: which source says where the chest wall is (header, table or pixels), and
the count of disagreements at the end of ``mammokit preprocess`` (issue 26).

On images already flipped so that every chest wall is on the left (as the shared CBIS-DDSM
set is) with a table that gives each breast's true laterality, the default policy obeys the
table and mirrors the right breasts to the wrong side, and says so; ``--side-policy pixels``
keeps every chest wall on the left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit.app.cli import main
from mammokit.data import read_index
from mammokit.preprocess.laterality import choose_side
from mammokit.synthetic import make_phantom

#: The shared real data beside the project (absent in a bare clone).
CBIS = Path(__file__).parents[3] / "shared" / "data" / "real-labelled" / "cbis-ddsm-mass-256"


def test_the_policy_orders_the_sources() -> None:
    assert choose_side("L", "R", True).laterality == "L"  # header first
    assert choose_side("L", "R", True, "table").laterality == "R"
    side = choose_side("L", "R", False, "pixels")
    assert (side.laterality, side.source, side.conflict) == ("L", "pixels", "table R")
    assert choose_side("", "", True, "table").source == "pixels"


def _run(images: Path, table: Path, out: Path, *policy: str) -> None:
    args = ["preprocess", "--images", str(images), "--csv", str(table), "--out", str(out),
            "--size", "128x64", "--workers", "0", "--quiet", *policy]  # fmt: skip
    assert main(args) == 0


def _preflipped_set(root: Path, sources: list[Path], sides: list[str]) -> Path:
    """``root/images/<patient>/<image>.png`` from ``sources`` and a table with ``sides``."""
    rows = []
    for i, (source, side) in enumerate(zip(sources, sides, strict=True)):
        target = root / "images" / f"p{i // 2}" / f"{i}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        rows.append({"patient_id": f"p{i // 2}", "image_id": str(i), "laterality": side,
                     "view": "CC" if i % 2 else "MLO"})  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "table.csv", index=False)
    return root / "table.csv"


def test_pre_flipped_phantoms_with_their_true_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = []
    for seed in range(4):
        phantom = make_phantom((400, 300), view="CC", seed=seed)  # chest wall on the left
        path = tmp_path / "src" / f"{seed}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(np.clip(phantom.image, 0, 1) * 255).astype(np.uint8)).save(path)
        sources.append(path)
    table = _preflipped_set(tmp_path, sources, ["L", "R", "L", "R"])
    _run(tmp_path / "images", table, tmp_path / "header")
    err = capsys.readouterr().err
    assert "2 image(s) whose header, table and pixels disagree on the side" in err
    assert "--side-policy header" in err
    index = read_index(tmp_path / "header")
    assert set(index.loc[index["laterality"] == "R", "laterality_conflict"]) == {"pixels L"}
    right = index["laterality"] == "R"
    # the table obeyed: the right breasts, already on the left, mirrored to the right
    assert list(index["flipped"]) == list(right)
    _run(tmp_path / "images", table, tmp_path / "pixels", "--side-policy", "pixels")
    index = read_index(tmp_path / "pixels")
    assert not index["flipped"].any()  # every chest wall stays on the left
    assert set(index["laterality_source"]) == {"pixels"}
    assert "2 image(s) whose" in capsys.readouterr().err  # still counted: the table disagrees


@pytest.mark.skipif(not CBIS.is_dir(), reason="the shared CBIS-DDSM set is not beside the repo")
def test_the_shared_cbis_ddsm_set_keeps_every_chest_wall_left_with_the_pixel_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = pd.read_csv(CBIS / "labels.csv").query("split == 'train'").head(60)
    sources = [CBIS / f for f in labels["file"]]
    sides = ["L" if s == "LEFT" else "R" for s in labels["laterality"]]
    table = _preflipped_set(tmp_path, sources, sides)
    _run(tmp_path / "images", table, tmp_path / "pixels", "--side-policy", "pixels")
    err = capsys.readouterr().err
    assert f"{sides.count('R')} image(s) whose header, table and pixels disagree" in err
    index = read_index(tmp_path / "pixels")
    assert len(index) == len(labels)
    assert not index["flipped"].any()  # the pixel rule finds every chest wall on the left
    conflicts = index.set_index("laterality")["laterality_conflict"]
    assert set(conflicts.get("R", [])) <= {"table R"} and set(conflicts.get("L", [])) <= {""}


def test_an_unknown_side_is_found_and_written_to_the_index(tmp_path: Path) -> None:
    """Empty ``laterality`` cells (PNGs: no header) and a table with no such column (DICOMs:
    the header knows): index.csv gets the side found and says where it came from."""
    from mammokit.synthetic import SynthConfig, write_dataset

    phantom = make_phantom((400, 300), view="CC", seed=1)
    source = tmp_path / "left.png"
    Image.fromarray(np.rint(np.clip(phantom.image, 0, 1) * 255).astype(np.uint8)).save(source)
    table = _preflipped_set(tmp_path / "png", [source, source], ["", ""])
    _run(tmp_path / "png" / "images", table, tmp_path / "png-out")
    index = read_index(tmp_path / "png-out")
    assert list(index["laterality"]) == ["L", "L"]
    assert set(index["laterality_source"]) == {"pixels"}
    data = tmp_path / "dicom"
    write_dataset(data, SynthConfig(patients=1, image_size=(256, 208), seed=2))
    truth = pd.read_csv(data / "train.csv", dtype=str)
    truth.drop(columns=["laterality"]).to_csv(tmp_path / "no-sides.csv", index=False)
    _run(data / "train_images", tmp_path / "no-sides.csv", tmp_path / "dicom-out")
    index = read_index(tmp_path / "dicom-out").set_index("image_id")
    assert dict(index["laterality"]) == dict(truth.set_index("image_id")["laterality"])
    assert set(index["laterality_source"]) == {"header"}
