import numpy as np
import pytest
import torch

from alprd.backends import onnx_backend
from alprd.model import geometry
from alprd.model.dsnet import DSNet
from alprd.model.export import PaddedStem, export_onnx, serving_twin
from alprd.model.rsnet import RSNet
from helpers_perf import randomise_bn

ort_only = pytest.mark.skipif(not onnx_backend.available(), reason="onnxruntime not installed")


def test_serving_twins_compute_what_the_nets_compute():
    torch.manual_seed(0)
    ds, rs = DSNet().eval(), RSNet().eval()
    randomise_bn(ds, rs)
    x = torch.randn(2, 3, 128, 96)
    p = torch.randn(3, 3, 48, 144)
    with torch.no_grad():
        twin = serving_twin(ds)
        assert isinstance(twin.stem, PaddedStem)
        torch.testing.assert_close(twin(x), ds(x), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(serving_twin(rs)(p), rs(p), atol=1e-5, rtol=1e-4)
    # the twin is a copy: the original keeps its modules and parameters
    assert not isinstance(ds.stem, PaddedStem)


def test_padded_stem_pads_to_channel_blocks():
    stem = PaddedStem(DSNet().eval().stem)
    assert stem.conv1[0].out_channels % 16 == 0
    assert stem.branch_conv[0][0].out_channels % 16 == 0
    assert stem.fuse[0].out_channels == DSNet().stem.fuse[0].out_channels   # what stage 2 expects


@ort_only
def test_uint8_graphs_match_torch_on_uint8_batches(tmp_path):
    torch.manual_seed(0)
    ds, rs = DSNet().eval(), RSNet().eval()
    randomise_bn(ds, rs)
    paths = export_onnx(ds, rs, tmp_path, det_size=64)
    names = sorted(p.name for p in paths)
    assert names == ["dsnet.onnx", "dsnet_u8.onnx", "rsnet.onnx", "rsnet_u8.onnx"]
    be = onnx_backend.OnnxBackend(ds, rs, det_size=64)
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)      # dynamic batch, > DET_CHUNK
    plates = rng.integers(0, 256, (5, 48, 144, 3), dtype=np.uint8)
    with torch.no_grad():
        want_maps = ds(geometry.normalize(views)).numpy()
        want_logits = rs(geometry.normalize(plates)).numpy()
    np.testing.assert_allclose(be.detect_u8(views), want_maps, atol=1e-4)
    np.testing.assert_allclose(be.read_u8(plates), want_logits, atol=1e-4)
    # the float graphs are only made when asked for
    assert not (be.dir / "dsnet.onnx").exists()
    np.testing.assert_allclose(be.detect(geometry.normalize(views)), want_maps, atol=1e-4)
    assert (be.dir / "dsnet.onnx").exists()


@ort_only
def test_onnx_backend_refuses_float_images_on_the_uint8_path():
    ds, rs = DSNet().eval(), RSNet().eval()
    be = onnx_backend.OnnxBackend(ds, rs, det_size=64)
    with pytest.raises(ValueError, match="uint8"):
        be.detect_u8(np.zeros((1, 64, 64, 3), np.float32))
