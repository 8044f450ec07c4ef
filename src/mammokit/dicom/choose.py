"""The automatic decoder choice (``decoder = "auto"``), made per file.

The rule, from what each :class:`~mammokit.DecoderComponent` declares:

1. only decoders that are available (``is_available()``) and handle the file's transfer
   syntax (``transfer_syntaxes`` contains it, or is empty for "any") take part, except
   where the decoder lists the transfer syntax in ``named_only``;
2. if ``min_shape`` allows decoding at 1/2 or less (:func:`reduction_level` >= 1),
   decoders that ``reduces_resolution`` come first;
3. otherwise full-resolution decoders come first;
4. within each group the lowest ``speed_rank`` wins (then the name, so the order never
   depends on plugin registration order).

With the built-ins this gives: ``j2k_reduced`` for JPEG 2000 when the target size allows a
reduction; ``pylibjpeg_rle`` for RLE; else ``dicomsdl`` when installed and verified for that
transfer syntax (see :data:`mammokit.dicom.decoders.dicomsdl.VERIFIED_TRANSFER_SYNTAXES`)
and not named-only (RLE is: see :data:`mammokit.dicom.decoders.dicomsdl.NAMED_ONLY`); else
``pydicom``. The
choice depends on the file, ``min_shape`` and what is installed, never on how the run is
executed, so an in-process run and a process-pool run write the same index.
The candidates after the first are the logged fallbacks if the first fails on a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mammokit.components import Component, DecoderComponent
from mammokit.images import ImageMeta

__all__ = ["MAX_REDUCTION", "candidates", "reduction_level"]

#: The largest reduction tried: 3 means 1/8 of the full resolution.
MAX_REDUCTION = 3


def reduction_level(
    rows: int, columns: int, min_shape: tuple[int, int] | None, max_level: int = MAX_REDUCTION
) -> int:
    """The largest n in 0..max_level with a 1/2**n decode still at least ``min_shape``.

    A reduced image has ``floor(size / 2**n)`` rows and columns or one more (rounding
    differs between codecs), so the floor is what must be at least ``min_shape``.
    ``min_shape`` None means full resolution (0).
    """
    if min_shape is None:
        return 0
    min_rows, min_cols = min_shape
    level = 0
    while (
        level < max_level
        and rows >> (level + 1) >= max(1, min_rows)
        and columns >> (level + 1) >= max(1, min_cols)
    ):
        level += 1
    return level


def _handles(component: Component[Any], transfer_syntax: str) -> bool:
    if not isinstance(component, DecoderComponent):
        return True  # a plain Component declares nothing: assume it takes anything
    if component.transfer_syntaxes and transfer_syntax not in component.transfer_syntaxes:
        return False
    if transfer_syntax in component.named_only:
        return False
    try:
        return bool(component.is_available())
    except Exception:  # an availability probe that breaks means "not available"
        return False


def candidates(
    decoders: Mapping[str, Component[Any]], meta: ImageMeta, min_shape: tuple[int, int] | None
) -> list[str]:
    """Decoder names to try for this file, best first (see the module docstring)."""
    reduce = reduction_level(meta.rows, meta.columns, min_shape) >= 1

    def key(name: str) -> tuple[bool, int, str]:
        component = decoders[name]
        reduces = isinstance(component, DecoderComponent) and component.reduces_resolution
        rank = component.speed_rank if isinstance(component, DecoderComponent) else 100
        return (reduces != reduce, rank, name)

    usable = [name for name, c in decoders.items() if _handles(c, meta.transfer_syntax)]
    return sorted(usable, key=key)
