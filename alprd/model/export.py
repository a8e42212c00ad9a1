"""ONNX export of DSNet and RSNet (dynamic batch), so the CPU backend can run them in ONNX Runtime.

The files are derived artefacts: written next to a cache key made of the weights file's hash, so a
change of weights re-exports instead of silently serving stale nets.
"""
from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import torch

from alprd.model.dsnet import DSNet
from alprd.model.rsnet import INPUT_SIZE, RSNet

log = logging.getLogger(__name__)
OPSET = 17


def export_onnx(dsnet: DSNet, rsnet: RSNet, out_dir: str | Path, det_size: int = 512) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    det_path, rec_path = out / "dsnet.onnx", out / "rsnet.onnx"
    w, h = INPUT_SIZE
    _export(dsnet.eval(), torch.zeros(1, 3, det_size, det_size), det_path,
            {"images": {0: "batch"}, "maps": {0: "batch"}},
            "images", "maps")
    _export(rsnet.eval(), torch.zeros(1, 3, h, w), rec_path,
            {"plates": {0: "batch"}, "logits": {0: "batch"}}, "plates", "logits")
    return det_path, rec_path


def _export(net, example, path: Path, axes: dict, iname: str, oname: str) -> None:
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tracer notes about shape checks that are static here
        torch.onnx.export(net, (example,), str(tmp), input_names=[iname], output_names=[oname],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    tmp.replace(path)   # atomic: a concurrent reader never sees half a file


def weights_key(dsnet: DSNet, rsnet: RSNet, det_size: int) -> str:
    """Hash of the parameters themselves, so a cached export always matches the nets in hand."""
    h = hashlib.sha256(f"opset{OPSET}-det{det_size}-torch{torch.__version__}".encode())
    for net in (dsnet, rsnet):
        for name, t in net.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
