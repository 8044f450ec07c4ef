"""Encoders that write small DICOM files for the synthetic data, tests and benchmarks:
:mod:`~mammokit.synthetic.encoders.write` (a monochrome array in a valid header, optionally
compressed) and :mod:`~mammokit.synthetic.encoders.ljpeg` (JPEG lossless, process 14 SV1).
They are kept apart from the decoders, as pydicom keeps ``pixels/encoders``."""
