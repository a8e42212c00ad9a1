"""The cascade's pre- and post-processing as torch ops on the model's device (the CUDA path).

Frames go to the device once, as uint8 (a quarter of the bytes of float, through pinned host
memory with asynchronous copies); letterbox, normalisation, the score threshold, the corner
decoding and the plate warp run there; only the candidate quads (a few numbers per plate) come
back for NMS on the host, and the rectified plates never leave the device before RSNet.

Device-agnostic: on the CPU the same functions run (that is how the tests check them against the
host path), only without pinned memory.

Differences from the host path, both sub-pixel: the letterbox's down-scaling is torch's "area"
mode (equal-weight bins) where OpenCV's INTER_AREA weights partial pixels, and the warp samples
with grid_sample (float) where OpenCV uses fixed-point bilinear weights; both results are rounded
to whole grey levels, as the host path's uint8 images are.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from alprd.model import geometry
from alprd.model.dsnet import STRIDE


class Uploader:
    """Copies numpy uint8 images to the device: through a reused pinned buffer per image shape
    and non-blocking copies on CUDA, straight from the numpy memory on the CPU."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.pinned = self.device.type == "cuda"
        self._staging: dict[tuple[int, ...], torch.Tensor] = {}

    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """Same-shaped images (a list or an N×… array) → one N×… uint8 tensor on the device.

        The staging buffer is reused by the next call of the same shape: callers synchronise
        (read results back) before uploading again, which every cascade call does."""
        n = len(images)
        shape = tuple(images[0].shape)
        if not self.pinned:
            arr = images if isinstance(images, np.ndarray) else np.stack(images)
            return torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)
        buf = self._staging.get(shape)
        if buf is None or len(buf) < n:
            buf = torch.empty((max(n, 2 * (0 if buf is None else len(buf))), *shape), dtype=torch.uint8,
                              pin_memory=True)
            self._staging[shape] = buf
        host = buf.numpy()
        for i, img in enumerate(images):
            np.copyto(host[i], img)
        return buf[:n].to(self.device, non_blocking=True)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W float in [0, 255] → [-1, 1], as geometry.normalize."""
    return x.div(127.5).sub_(1.0)


def letterbox(images: torch.Tensor, size: int, tight: bool = False) -> tuple[torch.Tensor, geometry.Letterbox]:
    """N×H×W×3 uint8 same-sized frames on the device → (N×3×S×S float in [0, 255] with
    geometry.letterbox's placement and padding, the Letterbox); with `tight` the view is
    geometry.view_shape's instead of S×S, as prepost.Letterboxer(tight=True) makes it."""
    n, h, w, _ = images.shape
    scale, nw, nh = geometry.fit(w, h, size)
    vh, vw = geometry.view_shape(w, h, size) if tight else (size, size)
    px, py = (vw - nw) // 2, (vh - nh) // 2
    x = images.permute(0, 3, 1, 2).float()
    if (nw, nh) != (w, h):
        if scale < 1:
            x = F.interpolate(x, size=(nh, nw), mode="area")
        else:
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
        x = x.round_().clamp_(0, 255)
    out = torch.full((n, 3, vh, vw), float(geometry.PAD_VALUE), dtype=x.dtype, device=x.device)
    out[:, :, py:py + nh, px:px + nw] = x
    return out, geometry.Letterbox(scale, px, py)


def decode_candidates(maps: torch.Tensor, threshold: float, z: float = geometry.Z_DEFAULT
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """DSNet outputs B×12×h×w on the device → per frame (corners K×4×2 in view pixels, scores K)
    on the host; only the cells that pass the threshold are gathered and copied."""
    maps = maps.float()
    b = maps.shape[0]
    conf = maps[:, :4].mean(dim=1)
    bi, ys, xs = torch.nonzero(conf >= threshold, as_tuple=True)
    t = maps[bi, 4:, ys, xs]                                                   # K×8
    centres = torch.stack(((xs.float() + 0.5) * STRIDE, (ys.float() + 0.5) * STRIDE), dim=-1)
    corners = geometry.decode_offsets(t, centres, z)
    scores = conf[bi, ys, xs]
    corners, scores, bi = corners.cpu().numpy(), scores.cpu().numpy(), bi.cpu().numpy()
    bounds = np.searchsorted(bi, np.arange(b + 1))
    return [(corners[bounds[i]:bounds[i + 1]].astype(np.float32), scores[bounds[i]:bounds[i + 1]].astype(np.float32))
            for i in range(b)]


_GRIDS: dict[tuple, torch.Tensor] = {}


def _plate_grid(size, device) -> torch.Tensor:
    key = (tuple(size), str(device))
    g = _GRIDS.get(key)
    if g is None:
        w, h = size
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
        g = _GRIDS[key] = torch.stack((xs, ys, torch.ones_like(xs)), dim=-1).view(-1, 3)   # hw×3
    return g


def warp_plates(frame: torch.Tensor, corners: np.ndarray, size=geometry.PLATE_SIZE) -> torch.Tensor:
    """One frame (H×W×3 uint8 on the device) and its plates' corners (K×4×2, frame pixels) →
    K×3×h×w float crops in [0, 255], as geometry.warp_plate (pixel centres at integers, bilinear,
    replicated border). All K plates come out of one grid_sample over the frame, stacked."""
    w, h = size
    k = len(corners)
    ih, iw = frame.shape[:2]
    c = torch.as_tensor(np.asarray(corners, np.float32), device=frame.device)
    hom = geometry.homography_dst_to_src(c, size)                         # K×3×3 (plate → frame)
    src = _plate_grid(size, frame.device) @ hom.transpose(1, 2)           # K×hw×3
    src = src[..., :2] / src[..., 2:].clamp(min=1e-6)
    norm = torch.stack(((src[..., 0] + 0.5) / iw * 2 - 1, (src[..., 1] + 0.5) / ih * 2 - 1), dim=-1)
    img = frame.permute(2, 0, 1).unsqueeze(0).float()                     # 1×3×H×W
    out = F.grid_sample(img, norm.view(1, k * h, w, 2), mode="bilinear", padding_mode="border",
                        align_corners=False)                              # 1×3×(K·h)×w
    return out.view(3, k, h, w).transpose(0, 1).round_().clamp_(0, 255)
