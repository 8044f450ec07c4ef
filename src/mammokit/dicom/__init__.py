"""Reading images: DICOM headers and pixel decoders, and ordinary image files.

``decode_file`` is what :meth:`mammokit.Pipeline.decode` calls; ``read_meta`` reads only
the header. The decoders are plugins (hook ``mammokit_decoders``, see
:mod:`mammokit.dicom.plugin`); the automatic choice is in :mod:`mammokit.dicom.choose`.
"""

from __future__ import annotations

from mammokit.dicom.decode import decode_file, read_meta

__all__ = ["decode_file", "read_meta"]
