"""Moved to :mod:`mammokit.scoring.metrics` (the scoring layer, below train and evaluate);
this alias warns and goes in the next release."""

from mammokit._moved import moved_module

__getattr__ = moved_module(__name__)
