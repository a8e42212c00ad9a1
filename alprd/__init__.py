"""alprd: video-stream licence plate recognition with the SLPNet cascade."""
import os as _os

# OpenMP threads that busy-wait between parallel regions (libgomp's default) cost torch on the CPU
# 3-10x when the cores are shared, as they are here with the decoder processes: measured on
# 2 cores under load, DSNet took 200-1000 ms per frame spinning and 55-75 ms passive. Read once
# when the OpenMP runtime loads (with torch), so it is set before anything imports torch; an
# explicit setting in the environment wins. See docs/performance.md.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
