"""Scoring: metrics, the metric set and image -> breast aggregation, in plain numpy/pandas.

The layer below both ``train`` and ``evaluate`` (ARCHITECTURE.md, "Layers"): training
history and evaluation reports compute the same numbers with the same code. No TensorFlow.
"""
