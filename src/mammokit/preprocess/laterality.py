"""Which side the chest wall is on (the header, then the table, then the pixels), and
mirroring an image to put it on the left.

By default the header's ImageLaterality (or Laterality) wins, then the table's
``laterality`` column; the pixel rule decides only when both are absent. A side policy
(:data:`TRUST`) may put the table first, or trust the pixels alone. Whenever a source
that is present disagrees with the one used, :attr:`Side.conflict` says so (it goes into
``index.csv``), so that mislabelled files can be found. L means the chest wall is on the
left of the stored image, R on the right.
"""

from __future__ import annotations

import attrs
import numpy as np

__all__ = ["SOURCES", "TRUST", "Side", "breast_on_right", "choose_side", "mirror"]

#: Where a side can come from, in the order they are trusted by default.
SOURCES = ("header", "table", "pixels")
#: Side policy -> the sources it trusts, first to last.
TRUST: dict[str, tuple[str, ...]] = {
    "header": SOURCES,
    "table": ("table", "header", "pixels"),
    "pixels": ("pixels",),
}


@attrs.frozen
class Side:
    """The side used for one image.

    Attributes:
        laterality: "L" or "R", the side the chest wall is on in the stored image.
        source: "header", "table" or "pixels", whichever decided.
        conflict: "" when every present source agrees, else each disagreeing source and its
            side, e.g. ``"pixels R"`` or ``"table R; pixels R"``.
        confidence: the pixel rule's confidence in [0, 1] (whichever source decided), or
            None when the pixel rule gives none (the published edge-sum rule).
    """

    laterality: str
    source: str
    conflict: str = ""
    confidence: float | None = None
    #: Derived: whether the chest wall is on the right of the stored image.
    on_right: bool = attrs.field(init=False, eq=False, repr=False)

    @on_right.default
    def _on_right(self) -> bool:
        return self.laterality == "R"


def _side(value: str) -> str:
    text = str(value or "").strip().upper()
    return text if text in ("L", "R") else ""


def choose_side(
    header: str,
    table: str,
    pixels_on_right: bool,
    policy: str = "header",
    *,
    confidence: float | None = None,
) -> Side:
    """The side from the first source that ``policy`` trusts and that knows it (by
    default the ``header`` laterality, else the ``table``'s, else the pixels).

    ``header`` and ``table`` are "L", "R" or "" (anything else counts as absent);
    ``confidence`` is the pixel rule's, kept in :attr:`Side.confidence`.
    """
    found = {
        "header": _side(header),
        "table": _side(table),
        "pixels": "R" if pixels_on_right else "L",
    }
    source = next(name for name in TRUST[policy] if found[name])
    used = found[source]
    conflict = "; ".join(
        f"{name} {value}" for name, value in found.items() if value and value != used
    )
    return Side(used, source, conflict, confidence)


def breast_on_right(pixels: np.ndarray, *, edge_fraction: float = 0.1) -> bool:
    """True if the breast of an (H, W) display image (dark background) is on the right.

    Compares the sums of the outer ``edge_fraction`` of the columns on each side (the published
    method, step 2; docs/concepts.md); a tie counts as left.
    """
    width = pixels.shape[1]
    n = max(1, int(width * edge_fraction))
    left = pixels[:, :n].sum(dtype=np.float64)
    right = pixels[:, width - n :].sum(dtype=np.float64)
    return bool(right > left)


def mirror(pixels: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W) mirrored left-right, as a view (no copy)."""
    return pixels[:, ::-1]
