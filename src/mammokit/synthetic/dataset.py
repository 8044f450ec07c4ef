"""RSNA-shaped synthetic datasets: ``write_dataset(root, SynthConfig(...)) -> root``.

Layout written under ``root``:

- ``train_images/<patient_id>/<image_id>.dcm`` and ``train.csv`` (the RSNA columns,
  :data:`mammokit.data.tables.TRAIN_COLUMNS`);
- with ``test_patients > 0``: ``test_images/...``, ``test.csv`` (``TEST_COLUMNS``, with
  ``prediction_id = <patient_id>_<laterality>``) and ``test_labels.csv`` (``prediction_id,
  cancer, lesion_type``: the hidden labels, for evaluation; ``lesion_type`` is the
  lesion's kind, "mass" or "calcification", or "none", so a report breaks results down by
  it);
- with ``lesion_masks``: ``train_masks/<patient_id>/<image_id>.png`` (0/255, the lesion
  in source pixels) for each image with a lesion, and a ``lesion_mask`` column in
  ``train.csv`` naming it relative to ``root`` (empty for an image without lesion), as
  ``mammokit preprocess`` reads lesion masks;
- ``synth.toml``: the :class:`SynthConfig` it was made with.

Each patient has four images (L/R x CC/MLO). A seeded ``positive_fraction`` of the breasts
carries a lesion, in both views; ``cancer`` is 1 on both of that breast's images.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.config import parse_size
from mammokit.data.tables import TEST_COLUMNS, TRAIN_COLUMNS
from mammokit.synthetic.dicom import (
    DEFAULT_TRANSFER_SYNTAXES,
    TRANSFER_SYNTAXES,
    Encoding,
    random_encoding,
    write_dicom,
)
from mammokit.synthetic.phantom import Lesion, Traits, make_phantom, random_lesion

__all__ = [
    "HARD_CASES",
    "MACHINE_IDS",
    "SynthConfig",
    "write_dataset",
]

#: Machine ids seen in the RSNA data.
MACHINE_IDS = (21, 29, 48, 49, 93, 110, 170, 190, 197, 210, 216)
#: The hard-case traits ``hard_case_fraction`` draws from.
HARD_CASES: dict[str, Traits] = {
    "no_window": Traits(no_window=True),
    "paddle": Traits(bright_band="paddle"),
    "text": Traits(bright_band="text"),
    "partial": Traits(partial=True),
    "film_border": Traits(film_border=True),
}
_VIEWS = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))


def _pair(value: Any) -> tuple[int, int]:
    return parse_size(value, name="image_size", minimum=(32, 24))


def _names(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _ints(value: Any) -> tuple[int, ...]:
    return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {value}")


def _subset_of(choices: Iterable[object]) -> Any:
    allowed = tuple(choices)

    def check(instance: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ValueError(
                f"{attribute.name} must be a non-empty subset of {allowed}; got {value}"
            )

    return check


@attrs.frozen
class SynthConfig:
    """What :func:`write_dataset` makes.

    Attributes:
        patients: training patients (4 images each).
        image_size: (H, W) of every image, from 32x24 up to the full 5355x4915.
        seed: seeds everything.
        positive_fraction: fraction of breasts carrying a lesion (cancer = 1), rounded to a
            count, and at least one when positive (in train and in test separately).
        test_patients: patients written to ``test_images``/``test.csv`` (0 for none).
        lesion_contrast: display-value increase at a lesion's centre (0 - 1).
        lesion_size: lesion radius as a fraction of the breast's half-height (0.02 - 0.5).
        lesion_kinds: drawn from "mass" and "calcification".
        transfer_syntaxes, photometrics, voi_functions, bits_stored: the choices each image's
            encoding is drawn from.
        hard_case_fraction: fraction of images given one of :data:`HARD_CASES`.
        markers: burn marker blocks into the background.
        lesion_masks: write each training image's lesion mask and the ``lesion_mask``
            column of ``train.csv``.
    """

    patients: int = attrs.field(converter=int)
    image_size: tuple[int, int] = attrs.field(default=(512, 416), converter=_pair)
    seed: int = attrs.field(default=0, converter=int)
    positive_fraction: float = attrs.field(default=0.25, converter=float, validator=_fraction)
    test_patients: int = attrs.field(default=0, converter=int)
    lesion_contrast: float = attrs.field(default=0.25, converter=float)
    lesion_size: float = attrs.field(default=0.12, converter=float)
    lesion_kinds: tuple[str, ...] = attrs.field(
        default=("mass", "calcification"),
        converter=_names,
        validator=_subset_of(("mass", "calcification")),
    )
    transfer_syntaxes: tuple[str, ...] = attrs.field(
        default=DEFAULT_TRANSFER_SYNTAXES,
        converter=_names,
        validator=_subset_of(TRANSFER_SYNTAXES),
    )
    photometrics: tuple[str, ...] = attrs.field(
        default=("MONOCHROME1", "MONOCHROME2"),
        converter=_names,
        validator=_subset_of(("MONOCHROME1", "MONOCHROME2")),
    )
    voi_functions: tuple[str, ...] = attrs.field(
        default=("LINEAR", "SIGMOID"), converter=_names, validator=_subset_of(("LINEAR", "SIGMOID"))
    )
    bits_stored: tuple[int, ...] = attrs.field(
        default=(12, 14, 16), converter=_ints, validator=_subset_of(range(12, 17))
    )
    hard_case_fraction: float = attrs.field(default=0.0, converter=float, validator=_fraction)
    markers: bool = True
    lesion_masks: bool = False

    def __attrs_post_init__(self) -> None:
        if self.patients < 0 or self.test_patients < 0 or self.patients + self.test_patients < 1:
            raise ValueError(
                f"need at least one patient, got patients={self.patients}, "
                f"test_patients={self.test_patients}"
            )
        # Validate the lesion parameters once, here, rather than per image.
        Lesion("mass", radius=self.lesion_size, contrast=self.lesion_contrast)


def _positives(rng: np.random.Generator, count: int, fraction: float) -> set[int]:
    wanted = round(fraction * count)
    if fraction > 0 and count > 0:
        wanted = max(wanted, 1)
    return {int(i) for i in rng.choice(count, size=min(wanted, count), replace=False)}


def _unique_ids(rng: np.random.Generator, count: int, low: int, high: int) -> list[int]:
    ids: set[int] = set()
    while len(ids) < count:
        ids.update(int(v) for v in rng.integers(low, high, size=count - len(ids)))
    return sorted(ids)


def _breast_labels(rng: np.random.Generator, cancer: int, site_id: int) -> dict[str, Any]:
    """biopsy, invasive, BIRADS and difficult_negative_case, consistent with ``cancer``."""
    biopsy = 1 if cancer else int(rng.random() < 0.03)
    if cancer:
        birads: float = 0.0
    elif site_id == 2 or rng.random() < 0.1:
        birads = float("nan")
    else:
        birads = float(rng.choice([1.0, 1.0, 1.0, 2.0, 2.0, 0.0]))
    return {
        "cancer": cancer,
        "biopsy": biopsy,
        "invasive": int(cancer and rng.random() < 0.7),
        "BIRADS": birads,
        "difficult_negative_case": bool(biopsy and not cancer),
    }


def _patient_rows(
    rng: np.random.Generator, patient_ids: list[int], image_ids: list[int], cfg: SynthConfig
) -> list[dict[str, Any]]:
    """One row per image, with the private keys ``_lesion``, ``_seed``, ``_encoding``,
    ``_traits`` and ``_density`` used to draw it."""
    positives = _positives(rng, 2 * len(patient_ids), cfg.positive_fraction)
    rows: list[dict[str, Any]] = []
    images = iter(image_ids)
    for p, patient_id in enumerate(patient_ids):
        site_id = int(rng.choice([1, 2]))
        age = float(rng.integers(38, 90)) if rng.random() > 0.01 else float("nan")
        density = str(rng.choice(["A", "B", "B", "C", "C", "D"]))
        patient = {
            "site_id": site_id,
            "patient_id": patient_id,
            "age": age,
            "implant": int(rng.random() < 0.02),
            "density": density if site_id == 1 else "",
            "machine_id": int(rng.choice(MACHINE_IDS)),
        }
        breasts: dict[str, tuple[dict[str, Any], Lesion | None]] = {}
        for b, laterality in enumerate("LR"):
            cancer = int(2 * p + b in positives)
            lesion = (
                random_lesion(
                    rng,
                    kinds=cfg.lesion_kinds,
                    radius=cfg.lesion_size,
                    contrast=cfg.lesion_contrast,
                )
                if cancer
                else None
            )
            breasts[laterality] = (_breast_labels(rng, cancer, site_id), lesion)
        for laterality, view in _VIEWS:
            labels, lesion = breasts[laterality]
            hard = rng.random() < cfg.hard_case_fraction
            traits = HARD_CASES[str(rng.choice(list(HARD_CASES)))] if hard else Traits()
            traits = attrs.evolve(traits, markers=cfg.markers)
            encoding = random_encoding(
                rng,
                transfer_syntaxes=cfg.transfer_syntaxes,
                photometrics=cfg.photometrics,
                voi_functions=cfg.voi_functions,
                bits_stored=cfg.bits_stored,
                window=not traits.no_window,
            )
            rows.append(
                {
                    **patient,
                    **labels,
                    "image_id": next(images),
                    "laterality": laterality,
                    "view": view,
                    "prediction_id": f"{patient_id}_{laterality}",
                    "_lesion": lesion,
                    "_seed": int(rng.integers(0, 2**31 - 1)),
                    "_encoding": encoding,
                    "_traits": traits,
                    "_density": density,
                }
            )
    return rows


def _write_images(
    root: Path,
    folder: str,
    rows: list[dict[str, Any]],
    size: tuple[int, int],
    masks: str = "",
) -> None:
    """Draw and write each row's DICOM; with ``masks`` (a folder name), also each lesion
    image's mask as a PNG there, its path relative to ``root`` in ``row["lesion_mask"]``."""
    from mammokit.data.writers import encode_png

    for row in rows:
        phantom = make_phantom(
            size,
            view=row["view"],
            breast_on_right=row["laterality"] == "R",
            density=row["_density"],
            lesion=row["_lesion"],
            traits=row["_traits"],
            seed=row["_seed"],
        )
        encoding: Encoding = row["_encoding"]
        write_dicom(
            root / folder / str(row["patient_id"]) / f"{row['image_id']}.dcm",
            phantom,
            encoding,
            patient_id=str(row["patient_id"]),
            laterality=row["laterality"],
            view=row["view"],
            age=row["age"],
            seed=row["_seed"],
        )
        if masks:
            row["lesion_mask"] = ""
            if phantom.lesion_mask.any():
                row["lesion_mask"] = f"{masks}/{row['patient_id']}/{row['image_id']}.png"
                pixels = phantom.lesion_mask.astype(np.uint8) * 255
                atomic_write_bytes(root / row["lesion_mask"], encode_png(pixels))


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: Iterable[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame([{c: row[c] for c in columns} for row in rows], columns=list(columns))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def write_dataset(root: str | Path, cfg: SynthConfig) -> Path:
    """Write an RSNA-shaped synthetic dataset under ``root`` (see the module doc); returns
    ``root``. The same ``cfg`` always gives the same files."""
    from mammokit.core.config import config_to_dict, save_toml

    root = Path(root)
    rng = np.random.default_rng(cfg.seed)
    total = cfg.patients + cfg.test_patients
    patient_ids = [int(v) for v in rng.permutation(_unique_ids(rng, total, 10_000, 65_535))]
    image_ids = [int(v) for v in rng.permutation(_unique_ids(rng, 4 * total, 10**6, 2**31 - 1))]
    train_ids = sorted(patient_ids[: cfg.patients])
    test_ids = sorted(patient_ids[cfg.patients :])
    train = _patient_rows(rng, train_ids, image_ids[: 4 * cfg.patients], cfg)
    test = _patient_rows(rng, test_ids, image_ids[4 * cfg.patients :], cfg)
    if train:
        masks = "train_masks" if cfg.lesion_masks else ""
        _write_images(root, "train_images", train, cfg.image_size, masks)
        columns = (*TRAIN_COLUMNS, "lesion_mask") if masks else TRAIN_COLUMNS
        _write_csv(root / "train.csv", train, columns)
    if test:
        _write_images(root, "test_images", test, cfg.image_size)
        _write_csv(root / "test.csv", test, TEST_COLUMNS)
        labels = [
            {**row, "lesion_type": row["_lesion"].kind if row["_lesion"] is not None else "none"}
            for row in {row["prediction_id"]: row for row in test}.values()
        ]
        _write_csv(root / "test_labels.csv", labels, ("prediction_id", "cancer", "lesion_type"))
    save_toml({"synth": config_to_dict(cfg)}, root / "synth.toml")
    return root
