"""The base layer: image records, errors, atomic writes, the attrs configs and the one
TensorFlow import (ARCHITECTURE.md, Layers)."""
