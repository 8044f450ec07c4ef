"""``mammokit inspect``: a static HTML page to check a preprocessed folder by eye.

One card per image: the source with its crop box drawn, the output, and what preprocessing
decided (ROI method, flip, decoder, laterality disagreement when ``index.csv`` has such a
column), plus every failure with its message. Filters run in the page (plain JavaScript,
no server, no network); the rows are embedded as JSON and shown a page at a time, and the
thumbnails load lazily, so a folder of 54,000 images stays usable.

Thumbnails are small JPEGs under ``<out>/thumbs/``, made once and reused: an existing
thumbnail newer than its image is not made again, so re-inspecting a folder after more
images were preprocessed only makes the new ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np
import pandas as pd

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError, MammokitError
from mammokit.data.folder import FAILURES_CSV

__all__ = ["InspectResult", "LATERALITY_DISAGREEMENT_COLUMNS", "write_inspect_page"]

#: ``index.csv`` columns read as "the header/table and the pixels disagree on laterality",
#: the first one present is used; without any, the page has no such filter.
LATERALITY_DISAGREEMENT_COLUMNS = (
    "laterality_disagrees",
    "laterality_disagreement",
    "laterality_mismatch",
)
#: Thumbnail height in pixels.
THUMB_HEIGHT = 160


@attrs.frozen
class InspectResult:
    """What :func:`write_inspect_page` wrote.

    Attributes:
        html: the page.
        images: cards on the page (index rows); failures: failed images listed.
        thumbnails_made: thumbnails made this time (the others were reused).
        seconds: wall time.
    """

    html: Path
    images: int
    failures: int
    thumbnails_made: int
    seconds: float


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    p = np.asarray(pixels, dtype=np.float32)
    low, high = float(p.min(initial=0.0)), float(p.max(initial=0.0))
    scaled = (p - low) / (high - low) if high > low else np.zeros_like(p)
    return cast("np.ndarray", np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8))


def _save_thumb(rgb_or_grey: Any, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    rgb_or_grey.save(buffer, format="JPEG", quality=80)
    atomic_write_bytes(path, buffer.getvalue())


def _fresh(thumb: Path, source: Path) -> bool:
    return thumb.is_file() and (
        not source.exists() or thumb.stat().st_mtime >= source.stat().st_mtime
    )


def _output_thumb(png: Path, thumb: Path) -> None:
    from PIL import Image

    with Image.open(png) as image:
        grey = Image.fromarray(_to_uint8(np.asarray(image)))
    width = max(1, round(grey.width * THUMB_HEIGHT / grey.height))
    _save_thumb(grey.resize((width, THUMB_HEIGHT)), thumb)


def _source_thumb(
    decode: Callable[[Path], np.ndarray], dicom: Path, row: pd.Series, thumb: Path
) -> None:
    """The source as stored (not mirrored), with the crop box in red: ``index.csv``'s box is
    in the unmirrored source's full-resolution coordinates."""
    from PIL import Image, ImageDraw

    pixels = decode(dicom)
    grey = Image.fromarray(_to_uint8(pixels)).convert("RGB")
    scale = THUMB_HEIGHT / grey.height
    width = max(1, round(grey.width * scale))
    small = grey.resize((width, THUMB_HEIGHT))
    # the box is in full-resolution source coordinates; the decode may be reduced
    sy = THUMB_HEIGHT / float(row["source_rows"])
    sx = width / float(row["source_cols"])
    box = [
        row["crop_x0"] * sx,
        row["crop_y0"] * sy,
        row["crop_x1"] * sx - 1,
        row["crop_y1"] * sy - 1,
    ]
    ImageDraw.Draw(small).rectangle(box, outline=(255, 40, 40), width=2)
    _save_thumb(small, thumb)


def _decoder(prep: Path) -> Callable[[Path], np.ndarray]:
    from mammokit.data.folder import read_preprocess_config
    from mammokit.preprocess.pipeline import ImagePipeline

    pipeline = ImagePipeline(read_preprocess_config(prep))

    def decode(path: Path) -> np.ndarray:
        decoded = pipeline.decode(path, min_shape=(THUMB_HEIGHT * 2, 1))
        return np.asarray(pipeline.window(decoded).pixels)

    return decode


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "1.0")


def write_inspect_page(
    prep_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    images_dir: str | Path | None = None,
) -> InspectResult:
    """Write ``<out_dir>/index.html`` (default ``<prep_dir>/inspect``) for a preprocessed folder.

    Args:
        prep_dir: a folder written by ``mammokit preprocess`` (``index.csv``,
            ``failures.csv``, ``preprocess.toml``, PNGs).
        out_dir: where the page and ``thumbs/`` go.
        images_dir: the source images folder (``<patient_id>/<image_id>.dcm``) to draw the
            crop boxes on; without it the cards show the output only.

    Raises:
        ConfigError: not a preprocessed folder.
    """
    from mammokit.data.index import id_sort_key, read_failures, read_index

    started = time.perf_counter()
    prep = Path(prep_dir)
    index = read_index(prep)
    failures = read_failures(prep) if (prep / FAILURES_CSV).exists() else pd.DataFrame()
    out = Path(out_dir) if out_dir is not None else prep / "inspect"
    thumbs = out / "thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    sources = Path(images_dir) if images_dir is not None else None
    if sources is not None and not sources.is_dir():
        raise ConfigError(f"{sources}: the images folder does not exist")
    decode = _decoder(prep) if sources is not None else None
    disagreement = next((c for c in LATERALITY_DISAGREEMENT_COLUMNS if c in index.columns), None)

    made = 0
    rows: list[dict[str, Any]] = []
    for _, row in index.iterrows():
        image_id = str(row["image_id"])
        card: dict[str, Any] = {
            "id": image_id,
            "patient": str(row.get("patient_id", "")),
            "laterality": str(row.get("laterality", "")),
            "view": str(row.get("view", "")),
            "roi_method": str(row["roi_method"]),
            "decoder": str(row["decoder"]),
            "flipped": "yes" if _flag(row["flipped"]) else "no",
            "failed": "no",
            "message": "",
            "box": [int(row[c]) for c in ("crop_y0", "crop_x0", "crop_y1", "crop_x1")],
            "source_shape": [int(row["source_rows"]), int(row["source_cols"])],
        }
        if disagreement is not None:
            card["disagreement"] = "yes" if _flag(row[disagreement]) else "no"
        png = prep / str(row["path"])
        if png.suffix == ".png" and png.is_file():
            thumb = thumbs / f"{image_id}-out.jpg"
            if not _fresh(thumb, png):
                _output_thumb(png, thumb)
                made += 1
            card["out"] = f"thumbs/{thumb.name}"
        if sources is not None and decode is not None:
            dicom = sources / card["patient"] / f"{image_id}.dcm"
            thumb = thumbs / f"{image_id}-src.jpg"
            try:
                if not _fresh(thumb, png):
                    _source_thumb(decode, dicom, row, thumb)
                    made += 1
                card["src"] = f"thumbs/{thumb.name}"
            except (MammokitError, OSError) as err:
                card["message"] = f"source not shown: {err}"
        rows.append(card)
    failed = []
    for _, failure in failures.iterrows():
        failed.append(
            {
                "id": str(failure["image_id"]),
                "path": str(failure["path"]),
                "error_type": str(failure["error_type"]),
                "message": str(failure["message"]),
            }
        )
    failed.sort(key=lambda f: id_sort_key(f["id"]))
    for failure in failed:
        rows.append(
            {"id": failure["id"], "patient": "", "laterality": "", "view": "", "roi_method": "",
             "decoder": "", "flipped": "", "failed": "yes",
             "message": f"{failure['error_type']}: {failure['message']}"}
        )  # fmt: skip
    filters = {
        "roi_method": sorted({r["roi_method"] for r in rows if r["roi_method"]}),
        "flipped": ["no", "yes"],
        "decoder": sorted({r["decoder"] for r in rows if r["decoder"]}),
        "failed": ["no", "yes"],
    }
    if disagreement is not None:
        filters["disagreement"] = ["no", "yes"]
    page = _render(
        {
            "title": f"mammokit inspect: {prep}",
            "prep": str(prep),
            "images": len(index),
            "failures": failed,
            "filters": filters,
            "disagreement_column": disagreement or "",
            "with_sources": sources is not None,
            # </script> cannot appear inside the JSON: "/" is escaped
            "rows_json": json.dumps(rows, separators=(",", ":")).replace("</", "<\\/"),
        }
    )
    html = out / "index.html"
    atomic_write_bytes(html, page.encode("utf-8"))
    return InspectResult(html, len(index), len(failed), made, time.perf_counter() - started)


def _render(context: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mammokit.data", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("inspect.html.j2").render(**context)
