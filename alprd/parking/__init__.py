"""The parking stage: plate lists and their matches, direction of travel, visits (docs/parking.md).

It sits between the trackers and the fan-out: it consumes PlateEvents and emits derived events
(plate.match, visit.open, visit.closed) into the same fan-out; it never calls a sink.
"""
