"""The built-in image stages: windowing, ROI, flip, pad, resize, and the chain joining them."""
