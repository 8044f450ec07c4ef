"""Phantoms as DICOM files, with the header variety of the RSNA data.

:class:`Encoding` says how one image is stored: MONOCHROME1/2, the VOI LUT function
(LINEAR/SIGMOID), bits stored (12-16), the window list (or none), a Pixel Padding Value, a
rescale, and the transfer syntax (JPEG 2000 lossless, RLE lossless, explicit VR little
endian). :func:`write_dicom` writes a :class:`~mammokit.synthetic.phantom.Phantom` so that
windowing with the *first* window gives back its display values (to within rounding).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np

from mammokit.core.atomic import atomic_write_bytes
from mammokit.synthetic.phantom import Phantom

if TYPE_CHECKING:
    from pydicom.dataset import Dataset, FileMetaDataset

__all__ = [
    "MAMMOGRAPHY_SOP_CLASS",
    "DEFAULT_TRANSFER_SYNTAXES",
    "TRANSFER_SYNTAXES",
    "Encoding",
    "random_encoding",
    "stored_values",
    "write_dicom",
]

#: Digital Mammography X-Ray Image Storage - For Presentation.
MAMMOGRAPHY_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"

#: Transfer syntax names used by :class:`Encoding`, with their UIDs.
TRANSFER_SYNTAXES = {
    "jpeg2000": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "explicit": "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "jpeg_lossless": "1.2.840.10008.1.2.4.70",  # JPEG Lossless, Process 14, SV1
}

#: The encodings drawn from by default. JPEG lossless is opt-in: mammokit's encoder for it
#: (pydicom has none) takes about a second per megapixel.
DEFAULT_TRANSFER_SYNTAXES = ("jpeg2000", "rle", "explicit")

_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
_FUNCTIONS = ("LINEAR", "SIGMOID")
#: The display range the first window maps to the full output range.
_WINDOW_LOW, _WINDOW_HIGH = 0.05, 1.0
#: A SIGMOID window is this much narrower than the display range, for a dark background.
_SIGMOID_NARROWING = 0.7


@attrs.frozen
class Encoding:
    """How a phantom is stored in its DICOM file.

    Attributes:
        photometric: "MONOCHROME1" (stored inverted) or "MONOCHROME2".
        voi_function: "LINEAR" or "SIGMOID" (VOILUTFunction).
        bits_stored: 12 to 16 (BitsAllocated is 16, unsigned).
        transfer_syntax: a key of :data:`TRANSFER_SYNTAXES`.
        window: write WindowCenter/WindowWidth/VOILUTFunction; False for none at all.
        extra_windows: how many further (wider) windows follow the first in the lists.
        padding: set a Pixel Padding Value and store the bare background as that value.
        rescale: write RescaleSlope 1 and RescaleIntercept 0.
    """

    photometric: str = attrs.field(
        default="MONOCHROME2", validator=attrs.validators.in_(_PHOTOMETRICS)
    )
    voi_function: str = attrs.field(default="LINEAR", validator=attrs.validators.in_(_FUNCTIONS))
    bits_stored: int = attrs.field(default=12)
    transfer_syntax: str = attrs.field(
        default="explicit", validator=attrs.validators.in_(tuple(TRANSFER_SYNTAXES))
    )
    window: bool = True
    extra_windows: int = attrs.field(default=0, validator=attrs.validators.in_((0, 1, 2)))
    padding: bool = False
    rescale: bool = False

    @bits_stored.validator
    def _check_bits(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not 12 <= value <= 16:
            raise ValueError(f"bits_stored must be 12 to 16, got {value}")


def random_encoding(
    rng: np.random.Generator,
    *,
    transfer_syntaxes: tuple[str, ...] = DEFAULT_TRANSFER_SYNTAXES,
    photometrics: tuple[str, ...] = _PHOTOMETRICS,
    voi_functions: tuple[str, ...] = _FUNCTIONS,
    bits_stored: tuple[int, ...] = (12, 14, 16),
    window: bool = True,
) -> Encoding:
    """An :class:`Encoding` drawn uniformly from the given choices."""
    return Encoding(
        photometric=str(rng.choice(list(photometrics))),
        voi_function=str(rng.choice(list(voi_functions))),
        bits_stored=int(rng.choice(list(bits_stored))),
        transfer_syntax=str(rng.choice(list(transfer_syntaxes))),
        window=window,
        extra_windows=int(rng.choice([0, 0, 1, 2])),
        padding=bool(rng.random() < 0.3),
        rescale=bool(rng.random() < 0.5),
    )


def stored_values(
    phantom: Phantom, encoding: Encoding, rng: np.random.Generator
) -> tuple[np.ndarray, list[float], list[float], int | None]:
    """Display values to stored values.

    Returns:
        ``(pixels (H, W) uint16, window_centers, window_widths, padding_value)``. Windowing
        ``pixels`` with the first centre/width (DICOM PS3.3 C.11.2.1.2; MONOCHROME1 then
        inverted) gives back ``phantom.image`` scaled to the output range.
    """
    max_value = (1 << encoding.bits_stored) - 1
    low = max_value * float(rng.uniform(0.04, 0.1))
    high = max_value * float(rng.uniform(0.8, 0.95))
    raw = phantom.image * np.float32(high - low)
    raw += np.float32(low)
    start, stop = low + _WINDOW_LOW * (high - low), low + _WINDOW_HIGH * (high - low)
    if encoding.voi_function == "LINEAR":
        center, width = (start + stop) / 2 + 0.5, stop - start + 1
    else:
        center, width = (start + stop) / 2, _SIGMOID_NARROWING * (stop - start)
    inverted = encoding.photometric == "MONOCHROME1"
    if inverted:
        np.subtract(np.float32(max_value), raw, out=raw)
        center = max_value - center + (1.0 if encoding.voi_function == "LINEAR" else 0.0)
    np.rint(raw, out=raw)
    np.clip(raw, 0, max_value, out=raw)
    pixels = raw.astype(np.uint16)
    padding_value: int | None = None
    if encoding.padding:
        padding_value = max_value if inverted else 0
        bare = (phantom.image < 0.05) & ~phantom.breast_mask
        pixels[bare] = padding_value
    centers, widths = [round(center, 1)], [round(width, 1)]
    for k in range(encoding.extra_windows):
        centers.append(round(center * float(rng.uniform(0.9, 1.1)), 1))
        widths.append(round(width * (1.3 + 0.3 * k), 1))
    return pixels, centers, widths, padding_value


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def _file_meta(sop_uid: str) -> FileMetaDataset:
    """The file meta information of an explicit VR little endian mammogram."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MAMMOGRAPHY_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _set_pixel_module(
    ds: Dataset,
    pixels: np.ndarray,
    encoding: Encoding,
    windows: tuple[list[float], list[float]],
    padding_value: int | None,
) -> None:
    """Set the pixel, VOI LUT and rescale attributes of ``ds`` for (H, W) uint16 ``pixels``."""
    centers, widths = windows
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = encoding.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = encoding.bits_stored
    ds.HighBit = encoding.bits_stored - 1
    ds.PixelRepresentation = 0
    if encoding.window:
        ds.WindowCenter = centers if len(centers) > 1 else centers[0]
        ds.WindowWidth = widths if len(widths) > 1 else widths[0]
        ds.VOILUTFunction = encoding.voi_function
    if padding_value is not None:
        ds.PixelPaddingValue = padding_value
    if encoding.rescale:
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
    ds.PixelData = pixels.tobytes()


def write_dicom(
    path: str | Path,
    phantom: Phantom,
    encoding: Encoding,
    *,
    patient_id: str,
    laterality: str,
    view: str,
    age: float | None = None,
    seed: int = 0,
) -> Path:
    """Write ``phantom`` as a DICOM mammogram at ``path`` (atomically) and return the path.

    The header carries PatientID, ImageLaterality, ViewPosition, the encoding's photometric
    interpretation, bits, windows, VOI LUT function, padding value and rescale. The image id
    is the file name's stem, as in the RSNA data (``<image_id>.dcm``): it seeds the SOP
    Instance UID.
    """
    from pydicom.dataset import Dataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    from mammokit.synthetic.encoders.write import compress

    path = Path(path)
    rng = np.random.default_rng(seed)
    pixels, centers, widths, padding_value = stored_values(phantom, encoding, rng)
    sop_uid = _uid("sop", patient_id, path.stem)
    ds = Dataset()
    ds.file_meta = _file_meta(sop_uid)
    ds.SOPClassUID = MAMMOGRAPHY_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = _uid("study", patient_id)
    ds.SeriesInstanceUID = _uid("series", patient_id, laterality, view)
    ds.Modality = "MG"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "BREAST"
    ds.PatientID = str(patient_id)
    ds.PatientName = f"Phantom^{patient_id}"
    if age is not None and age == age:
        ds.PatientAge = f"{int(age):03d}Y"
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PatientOrientation = ["P", "L"] if phantom.breast_on_right else ["A", "R"]
    ds.InstanceNumber = 1
    _set_pixel_module(ds, pixels, encoding, (centers, widths), padding_value)
    syntax = UID(TRANSFER_SYNTAXES[encoding.transfer_syntax])
    if syntax != ExplicitVRLittleEndian:
        compress(ds, pixels, syntax, generate_instance_uid=False)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
