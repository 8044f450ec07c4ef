"""One worker of the two-process MultiWorkerMirroredStrategy test (run as a script).

argv: data_dir run_dir weights_out.npy; TF_CONFIG comes from the environment.
"""

from __future__ import annotations

import sys

import numpy as np

from mammokit.train.config import TrainConfig
from mammokit.train.fit import train

data_dir, run_dir, out = sys.argv[1:4]
config = TrainConfig(
    backbone="simple_cnn",
    image_size=(64, 32),
    epochs=1,
    batch_size=8,
    strategy="multi_worker",
    sampling="none",
    final_weights="last",
)
result = train(data_dir, run_dir, config, verbose=0)
np.save(out, np.concatenate([w.ravel() for w in result.model.get_weights()]))
