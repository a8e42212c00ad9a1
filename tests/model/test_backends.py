import numpy as np
import pytest
import torch

from alprd.backends import onnx_backend
from alprd.backends.torch_backend import TorchBackend
from alprd.model.recognizer import Recognizer
from alprd.model.weights import build_models

pytestmark = pytest.mark.skipif(not onnx_backend.available(), reason="onnxruntime not installed")


def test_onnx_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPRD_CACHE", str(tmp_path))
    torch.manual_seed(0)
    dsnet, rsnet, _ = build_models()
    ort_be = onnx_backend.OnnxBackend(dsnet, rsnet, det_size=256)
    torch_be = TorchBackend(dsnet, rsnet, "cpu")
    x = torch.randn(3, 3, 256, 256)          # batch differs from the export's 1: dynamic batch works
    np.testing.assert_allclose(ort_be.detect(x), torch_be.detect(x), atol=1e-4)
    p = torch.randn(5, 3, 48, 144)
    np.testing.assert_allclose(ort_be.read(p), torch_be.read(p), atol=1e-4)
    assert list(tmp_path.rglob("*.onnx"))


def test_recognizer_backends_agree_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPRD_CACHE", str(tmp_path))
    frame = np.random.default_rng(1).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    # threshold 0 and no suppression: every cell becomes a read, so the whole cascade is compared
    a = Recognizer(backend="torch", det_threshold=0.0, nms_threshold=1.0, det_size=64, device="cpu")
    b = Recognizer(backend="auto", det_threshold=0.0, nms_threshold=1.0, det_size=64, device="cpu")
    assert b.backend.name == "onnxruntime"       # auto picks ONNX Runtime on the CPU
    b.backend = type(b.backend)(a.backend.dsnet, a.backend.rsnet, det_size=64)  # same weights
    ra = sorted(a.recognize([frame])[0], key=lambda r: r.corners)
    rb = sorted(b.recognize([frame])[0], key=lambda r: r.corners)
    assert len(ra) == len(rb) == 16   # a 64×64 view has 4×4 cells
    np.testing.assert_allclose([r.corners for r in ra], [r.corners for r in rb], atol=1e-2)
    assert [r.text for r in ra] == [r.text for r in rb]
