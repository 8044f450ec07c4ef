"""Synthetic mammograms and RSNA-shaped datasets, for tests, benchmarks and the demo.

``write_dataset(root, SynthConfig(patients=8, image_size=(256, 208), seed=0))`` writes
``train_images/<patient_id>/<image_id>.dcm`` and ``train.csv`` (plus ``test_images/``,
``test.csv`` and ``test_labels.csv`` with ``test_patients``). :func:`make_phantom` draws one
image in display values; :func:`write_dicom` stores it with a chosen :class:`Encoding`.
"""

from __future__ import annotations

from mammokit.synthetic.dataset import HARD_CASES, SynthConfig, write_dataset
from mammokit.synthetic.dicom import TRANSFER_SYNTAXES, Encoding, write_dicom
from mammokit.synthetic.phantom import Lesion, Phantom, Traits, make_phantom

__all__ = [
    "HARD_CASES",
    "TRANSFER_SYNTAXES",
    "Encoding",
    "Lesion",
    "Phantom",
    "SynthConfig",
    "Traits",
    "make_phantom",
    "write_dataset",
    "write_dicom",
]
