"""The CUDA path's pre/post-processing (torch ops on the model's device), run here on the CPU."""
import numpy as np
import pytest
import torch

from alprd.backends import torch_prepost as tp
from alprd.model import geometry
from alprd.cascade import Recognizer
from benchmarks.scenes import frame_with_plate


def test_device_letterbox_matches_opencv_letterbox():
    img, _ = frame_with_plate((640, 360))
    up = tp.Uploader("cpu")([img, img])
    assert up.dtype == torch.uint8 and up.shape == (2, 360, 640, 3)
    view, lb = tp.letterbox(up, 256)
    want, want_lb = geometry.letterbox(img, 256)
    assert lb == want_lb
    got = view[0].permute(1, 2, 0).numpy()
    # torch's "area" bins vs OpenCV's fractional INTER_AREA weights: sub-grey-level on average
    assert np.abs(got - want.astype(np.float32)).mean() < 1.5
    same, lb1 = tp.letterbox(tp.Uploader("cpu")([want]), 256)      # no resize: an exact copy
    assert np.array_equal(same[0].permute(1, 2, 0).numpy(), want.astype(np.float32))


def test_device_warp_matches_opencv_warp():
    rng = np.random.default_rng(0)
    frame = np.ascontiguousarray(np.clip(
        np.cumsum(rng.integers(-3, 4, (360, 640, 3)), axis=1) + 128, 0, 255).astype(np.uint8))
    corners = np.array([[[100, 100], [300, 120], [290, 180], [95, 170]],
                        [[-10, 300], [200, 310], [210, 400], [-5, 390]]], np.float32)
    got = tp.warp_plates(torch.from_numpy(frame), corners)
    assert got.shape == (2, 3, 48, 144)
    for k in range(2):
        want = geometry.warp_plate(frame, corners[k]).astype(np.float32)
        assert np.abs(got[k].permute(1, 2, 0).numpy() - want).mean() < 1.0


def test_decode_candidates_equals_host_decoding():
    from alprd.backends import prepost

    maps = np.random.default_rng(1).uniform(0, 1, (3, 12, 8, 8)).astype(np.float32)
    got = tp.decode_candidates(torch.from_numpy(maps), 0.6)
    for (c, s), (wc, ws) in zip(got, prepost.decode_batch(maps, 0.6)):
        np.testing.assert_allclose(c, wc, atol=1e-4)
        np.testing.assert_allclose(s, ws, atol=1e-6)


def test_device_cascade_reads_what_the_host_cascade_reads(bright_weights):
    host = Recognizer(str(bright_weights), backend="torch", device="cpu", prepost="host")
    dev = Recognizer(str(bright_weights), backend="torch", device="cpu", prepost="device")
    assert host.prepost == "host" and dev.prepost == "device"
    square = [frame_with_plate((512, 512), (x, 300), seed=i)[0] for i, x in enumerate((150, 256, 380))]
    a, b = host.recognize(square), dev.recognize(square)
    assert [len(r) for r in a] == [len(r) for r in b] == [1, 1, 1]
    for ra, rb in zip(a, b):     # 512×512 frames need no resize: the same view, the same quads
        assert [r.text for r in ra] == [r.text for r in rb] == ["A"]
        np.testing.assert_allclose([r.corners for r in ra], [r.corners for r in rb], atol=1e-3)
        np.testing.assert_allclose([r.det_conf for r in ra], [r.det_conf for r in rb], atol=1e-4)
    # mixed frame sizes in one batch (two cameras): grouped by shape, results in input order
    mixed = [frame_with_plate((1280, 720))[0], square[0], frame_with_plate((1920, 1080))[0]]
    a, b = host.recognize(mixed), dev.recognize(mixed)
    assert [[r.text for r in x] for x in a] == [[r.text for r in x] for x in b] == [["A"]] * 3
    assert dev.recognize([]) == [] and dev.detect([]) == []


def test_prepost_device_needs_torch():
    with pytest.raises(ValueError):
        Recognizer(backend="onnxruntime", device="cpu", prepost="device", det_size=64)
    with pytest.raises(ValueError):
        Recognizer(backend="torch", device="cpu", prepost="gpu", det_size=64)


def test_device_tight_letterbox_matches_the_host_tight_view():
    from alprd.backends import prepost

    img, _ = frame_with_plate((640, 360))
    view, lb = tp.letterbox(tp.Uploader("cpu")([img]), 256, tight=True)
    want, (want_lb,) = prepost.Letterboxer(256, tight=True)([img])
    assert view.shape == (1, 3, 160, 256) and want.shape == (1, 160, 256, 3)   # 256×144 picture
    assert lb == want_lb
    assert np.abs(view[0].permute(1, 2, 0).numpy() - want[0].astype(np.float32)).mean() < 1.5
