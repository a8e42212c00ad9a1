"""The cascade layer: frames in, plate reads out, above the nets (alprd.model) and the backends
(alprd.backends) that run them.

- ``recognizer.Recognizer``: the batched cascade API (detect, read, read_at, recognize);
- ``host.HostPath`` / ``device.DevicePath``: the two ways of running the steps around the nets
  (numpy/OpenCV on the host; torch ops on the model's device), one small strategy each;
- ``frames``: input normalisation, grouping, the human-friendly plate crop.

A new path (e.g. two-row or small plates read from a second warp) is a strategy beside these
two or a stage inside ``Recognizer.recognize``; nothing below this layer imports it.
"""
from alprd.cascade.recognizer import Recognizer

__all__ = ["Recognizer"]
