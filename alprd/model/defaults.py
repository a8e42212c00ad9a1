"""Serving defaults of the cascade, in a module with no heavy imports so the config and the CLI can
share them with the recognizer.

DET_THRESHOLD was chosen on dev data for the shipped weights (CCPD dev: recall 1.0 and precision
0.989 at 0.4, recall 0.989 at 0.5): the Gaussian-score confidence rates corner quality, so a
correctly found but loosely cornered plate can score under 0.5.
"""
DET_THRESHOLD = 0.4
NMS_THRESHOLD = 0.3
DET_SIZE = 512
