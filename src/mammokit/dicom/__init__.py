"""Reading images: DICOM headers and pixel decoders, and ordinary image files.

``decode_file`` is what :meth:`mammokit.Pipeline.decode` calls; ``read_meta`` reads only
the header. The decoders are plugins (hook ``mammokit_decoders``, see
:mod:`mammokit.dicom.plugin`); the automatic choice is in :mod:`mammokit.dicom.decode`.
The two functions are imported on first use, so that registering the decoder plugin does
not import pydicom or Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mammokit.dicom.decode import decode_file, read_meta

__all__ = ["decode_file", "read_meta"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mammokit.dicom import decode

        return getattr(decode, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
