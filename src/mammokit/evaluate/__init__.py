"""Evaluation: metrics (plain numpy), breast-level aggregation, threshold policies,
calibration, reports, prediction and Grad-CAM explanations.

Importing this package never imports TensorFlow; ``predict`` and ``gradcam`` import it
lazily through :func:`mammokit.core.tf.import_tf` when a model is actually used.
"""
