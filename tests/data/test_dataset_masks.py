"""``preprocess_dataset`` with a lesion-mask column: a mask beside each image, recorded in
``index.csv``; a bad mask is a failure of its image naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit import ConfigError, Pipeline
from mammokit.data import read_index
from mammokit.preprocess.geometry import crop_offset, padded_shape
from mammokit.synthetic import SynthConfig, write_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(
        patients=3, image_size=(160, 128), positive_fraction=0.5, lesion_contrast=0.5,
        lesion_size=0.2, lesion_kinds=("mass",), lesion_masks=True, seed=2,
    )  # fmt: skip
    return write_dataset(root, cfg)


def _pipeline() -> Pipeline:
    return Pipeline(size=(64, 32))


def test_a_mask_beside_every_image(synth: Path, tmp_path: Path):
    table = pd.read_csv(synth / "train.csv", dtype=str, keep_default_na=False)
    assert (table["lesion_mask"] != "").sum() == (table["cancer"] == "1").sum() > 0
    out = tmp_path / "prep"
    result = _pipeline().preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
    )
    assert result.ok and result.masks == len(table)
    index = read_index(out)
    assert list(index.columns)[-1] == "mask_path"
    for row in index.itertuples():
        assert row.mask_path == f"masks/{row.patient_id}/{row.image_id}.png"
        mask = np.asarray(Image.open(out / row.mask_path))
        assert mask.shape == (64, 32) and set(np.unique(mask)) <= {0, 255}
        # an image without lesion gets an all-background mask; one with a lesion shows it
        assert bool(mask.any()) == isinstance(row.lesion_mask, str)  # empty cells: NaN
    again = _pipeline().preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
    )
    assert again.skipped == len(table) and again.masks == len(table)


def test_several_masks_are_united_relative_to_mask_root(synth: Path, tmp_path: Path):
    table = pd.read_csv(synth / "train.csv", dtype=str, keep_default_na=False)
    lesion = table[table["lesion_mask"] != ""].iloc[[0]].copy()
    source = np.asarray(Image.open(synth / lesion["lesion_mask"].iloc[0])) > 0
    rows = np.nonzero(source.any(axis=1))[0]
    middle = (rows[0] + rows[-1]) // 2
    halves = tmp_path / "halves"
    halves.mkdir()
    for name, keep in (("top.png", slice(0, middle)), ("bottom.png", slice(middle, None))):
        part = np.zeros_like(source)
        part[keep] = source[keep]
        Image.fromarray(part.astype(np.uint8) * 255).save(halves / name)
    whole = lesion.assign(lesion_mask=str(synth / lesion["lesion_mask"].iloc[0]))
    split = lesion.assign(lesion_mask="top.png; bottom.png")
    outs = []
    for name, frame, root in (("whole", whole, None), ("split", split, halves)):
        out = tmp_path / name
        result = _pipeline().preprocess_dataset(
            synth / "train_images", frame, out, workers=0, quiet=True, mask_root=root
        )
        assert result.ok
        outs.append(np.asarray(Image.open(out / read_index(out)["mask_path"].iloc[0])))
    assert outs[0].any() and np.array_equal(outs[0], outs[1])


def test_a_missing_mask_fails_its_image_naming_the_file(synth: Path, tmp_path: Path):
    table = pd.read_csv(synth / "train.csv", dtype=str, keep_default_na=False)
    table.loc[0, "lesion_mask"] = "train_masks/nowhere.png"
    table.to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "prep"
    result = _pipeline().preprocess_dataset(
        synth / "train_images", tmp_path / "table.csv", out, workers=0, quiet=True,
        mask_root=synth,  # the table moved away from its masks
    )  # fmt: skip
    assert result.failed == 1 and result.succeeded == len(table) - 1
    failure = result.failures[0]
    assert failure.image_id == table.loc[0, "image_id"]
    assert str(synth / "train_masks" / "nowhere.png") in failure.message
    assert "lesion mask file not found" in failure.message


def test_mask_options_are_checked(synth: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="mask column 'roi'"):
        _pipeline().preprocess_dataset(
            synth / "train_images", synth / "train.csv", tmp_path / "a", workers=0,
            mask_column="roi",
        )  # fmt: skip
    with pytest.raises(ConfigError, match="png format only"):
        _pipeline().preprocess_dataset(
            synth / "train_images", synth / "train.csv", tmp_path / "b", workers=0,
            format="tfrecord",
        )  # fmt: skip
    out = tmp_path / "none"
    result = _pipeline().preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=0, quiet=True, mask_column=""
    )
    assert result.ok and result.masks == 0
    assert "mask_path" not in read_index(out).columns and not (out / "masks").exists()


#: The shared real data beside the project (absent in a bare clone).
CBIS = Path(__file__).parents[3] / "shared" / "data" / "real-labelled" / "cbis-ddsm-mass-256"


@pytest.mark.skipif(not CBIS.is_dir(), reason="the shared CBIS-DDSM set is not beside the repo")
def test_cbis_ddsm_masks_follow_their_crops(tmp_path: Path):
    """40 real mammograms with their ROI masks (chest wall already on the left: the table
    says L): each preprocessed mask holds its lesion where the crop box of index.csv, the
    padding and a nearest-neighbour resize put it (centre within 1.5 pixels, area within
    about its outline)."""
    labels = pd.read_csv(CBIS / "labels.csv").query("split == 'train'").head(40)
    images = tmp_path / "images"
    rows = []
    for row in labels.itertuples():
        image_id = Path(row.file).stem
        patient_id = row.case.split("_")[2]
        (images / patient_id).mkdir(parents=True, exist_ok=True)
        (images / patient_id / f"{image_id}.png").write_bytes((CBIS / row.file).read_bytes())
        rows.append({"patient_id": patient_id, "image_id": image_id, "laterality": "L",
                     "view": row.view, "lesion_mask": row.mask_files})  # fmt: skip
    out = tmp_path / "prep"
    result = Pipeline(size=(128, 64)).preprocess_dataset(
        images, pd.DataFrame(rows), out, workers=0, quiet=True, mask_root=CBIS
    )
    assert result.ok and result.masks == len(rows)
    for row in read_index(out).itertuples():
        mask = np.asarray(Image.open(out / row.mask_path)) > 0
        source = np.asarray(Image.open(CBIS / row.lesion_mask)) > 0
        crop = source[row.crop_y0 : row.crop_y1, row.crop_x0 : row.crop_x1]
        frame = padded_shape(*crop.shape, 2.0)  # the default padder: right, and centred
        y = crop_offset("center", frame[0] - crop.shape[0])
        padded = np.zeros(frame, np.uint8)
        padded[y : y + crop.shape[0], : crop.shape[1]] = crop
        expected = np.asarray(Image.fromarray(padded).resize((64, 128), Image.NEAREST)) > 0
        centre = np.argwhere(mask).mean(axis=0)
        assert np.abs(centre - np.argwhere(expected).mean(axis=0)).max() < 1.5
        area = crop.sum() * mask.size / padded.size  # the lesion's area at the output scale
        assert abs(mask.sum() - area) < 2 * np.sqrt(area) + 2, (mask.sum(), area)
