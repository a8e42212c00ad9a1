"""Serving defaults of the cascade, in a module with no heavy imports so the config and the CLI can
share them with the recognizer.

DET_THRESHOLD was chosen on dev data for the shipped weights (CCPD dev blue + green, 95 images:
recall 1.0 from 0.35 to 0.5, precision 0.979 at 0.35-0.4 and 0.990 at 0.45-0.5; recall 0.989 at
0.55): the lowest threshold of the best band, since the Gaussian-score confidence rates corner
quality and a correctly found but loosely cornered plate can score low.
"""
DET_THRESHOLD = 0.45
NMS_THRESHOLD = 0.3
DET_SIZE = 512

# Reads reported by default: a valid plate layout whose weakest character is at least this
# confident (alprd.cascade.reportable says how it was chosen on dev data).
READ_THRESHOLD = 0.64
# A site's named provinces weigh this much more than the others as the plate's first character
# (alprd.model.province_prior says how it was chosen on dev data).
PROVINCE_WEIGHT = 4.0
# The second look (alprd.cascade.zoom): full-resolution tiles of a large frame per stream and frame.
ZOOM_TILES_PER_FRAME = 1
