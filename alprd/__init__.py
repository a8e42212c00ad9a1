"""alprd: video-stream licence plate recognition with the SLPNet cascade."""

__version__ = "0.1.0"
