import cv2
import numpy as np
import torch

from alprd.model import geometry as g


def test_cube_root_transform_round_trips():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 512, size=(50, 2)).astype(np.float32)
    corners = centres[:, None, :] + rng.uniform(-200, 200, size=(50, 4, 2)).astype(np.float32)
    t = g.encode_offsets(corners, centres)
    assert t.shape == (50, 8)
    np.testing.assert_allclose(g.decode_offsets(t, centres), corners, atol=1e-3)
    # torch tensors decode the same way (training uses this path)
    back = g.decode_offsets(torch.from_numpy(t), torch.from_numpy(centres)).numpy()
    np.testing.assert_allclose(back, corners, atol=1e-3)


def test_cube_root_compresses_far_offsets():
    c = np.zeros(2, np.float32)
    near = g.encode_offsets(np.full((4, 2), 16.0), c)[0]
    far = g.encode_offsets(np.full((4, 2), 128.0), c)[0]
    assert np.allclose(far, 1.0) and np.allclose(near, 0.5)   # 8× the distance, only 2× the code


def test_decode_map_picks_confident_cells():
    out = np.zeros((12, 32, 32), np.float32)
    quad = np.array([[100, 200], [180, 204], [178, 230], [98, 226]], np.float32)
    cy, cx = 13, 8
    centre = g.cell_centres(32, 32)[cy, cx]
    out[:4, cy, cx] = 0.9
    out[4:, cy, cx] = g.encode_offsets(quad, centre)
    out[:4, 0, 0] = 0.2   # below threshold
    corners, conf = g.decode_map(out, threshold=0.5)
    assert corners.shape == (1, 4, 2)
    np.testing.assert_allclose(corners[0], quad, atol=1e-3)
    assert conf[0] == np.float32(0.9)


def test_nms_keeps_best_of_overlapping_and_separate_quads():
    a = np.array([[0, 0], [100, 0], [100, 30], [0, 30]], np.float32)
    b = a + 3               # same plate, slightly shifted
    c = a + [300, 200]      # another plate
    corners = np.stack([a, b, c])
    keep = g.nms_quads(corners, np.array([0.7, 0.9, 0.8]), iou_threshold=0.3)
    assert keep == [1, 2]


def test_quad_iou():
    a = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    assert abs(g.quad_iou(a, a) - 1) < 1e-6
    assert abs(g.quad_iou(a, a + [5, 0]) - 1 / 3) < 1e-4
    assert g.quad_iou(a, a + [20, 0]) == 0


def _checkerboard_with_plate():
    img = np.full((400, 600, 3), 40, np.uint8)
    plate = np.zeros((48, 144, 3), np.uint8)
    plate[:, :72] = (255, 0, 0)
    plate[:24, 72:] = (0, 0, 255)
    plate[24:, 72:] = (0, 255, 0)
    src = np.array([[0, 0], [144, 0], [144, 48], [0, 48]], np.float32)
    quad = np.array([[210, 150], [390, 170], [385, 235], [205, 212]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    cv2.warpPerspective(plate, m, (600, 400), img, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return img, plate, quad


def test_warp_recovers_upright_plate():
    img, plate, quad = _checkerboard_with_plate()
    crop = g.warp_plate(img, quad)
    assert crop.shape == (48, 144, 3)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(crop[inner].astype(int) - plate[inner].astype(int)).mean() < 12


def test_torch_warp_matches_opencv_and_is_differentiable():
    img, _, quad = _checkerboard_with_plate()
    blur = cv2.GaussianBlur(img, (0, 0), 2)
    images = torch.from_numpy(blur).permute(2, 0, 1)[None].float()
    corners = torch.from_numpy(quad)[None].requires_grad_(True)
    crop = g.warp_plates_torch(images, corners, torch.tensor([0]))
    ref = g.warp_plate(blur, quad)
    diff = np.abs(crop[0].detach().permute(1, 2, 0).numpy() - ref.astype(np.float32)).mean()
    assert diff < 2.0
    crop.mean().backward()
    assert corners.grad is not None and torch.isfinite(corners.grad).all()


def test_letterbox_maps_points_both_ways():
    img = np.zeros((1080, 1920, 3), np.uint8)
    view, lb = g.letterbox(img, 512)
    assert view.shape == (512, 512, 3)
    assert lb.pad_x == 0 and lb.pad_y > 0
    pts = np.array([[100.0, 500.0], [1900.0, 1000.0]])
    np.testing.assert_allclose(lb.to_frame(lb.to_view(pts)), pts, atol=1e-3)


def test_resize_stays_close_to_opencv_area_and_keeps_the_shape_for_any_size():
    import cv2
    from pathlib import Path

    import alprd

    photo = cv2.imread(str(Path(alprd.__file__).parent / "data" / "sample.jpg"))
    frame = cv2.resize(photo, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    ref = cv2.resize(frame, (512, 288), interpolation=cv2.INTER_AREA)
    out = g.resize(frame, (512, 288))
    assert out.shape == ref.shape
    diff = np.abs(out.astype(np.int16) - ref)
    assert diff.mean() < 2.0, diff.mean()          # ~1 grey level measured
    assert np.abs(cv2.resize(frame, (512, 288), interpolation=cv2.INTER_NEAREST).astype(np.int16)
                  - ref).mean() > diff.mean()       # it is not just decimation
    for w, h, nw, nh in [(1919, 1079, 512, 288), (720, 1160, 318, 512), (100, 40, 300, 120), (64, 64, 64, 64)]:
        img = np.zeros((h, w, 3), np.uint8)
        assert g.resize(img, (nw, nh)).shape == (nh, nw, 3)
    canvas = np.zeros((288, 512, 3), np.uint8)
    res = g.resize(frame, (512, 288), dst=canvas)
    assert np.shares_memory(res, canvas) and np.array_equal(canvas, out)
    half = cv2.resize(frame, (1024, 576), interpolation=cv2.INTER_AREA)   # halves exactly to the target
    res = g.resize(half, (512, 288), dst=canvas)
    assert np.shares_memory(res, canvas)
    assert np.array_equal(canvas, cv2.resize(half, (512, 288), interpolation=cv2.INTER_AREA))
    same = np.zeros((64, 64, 3), np.uint8)
    assert not np.shares_memory(g.resize(same, (64, 64)), same)     # a new picture, never the input


def test_view_shape_pads_the_letterboxed_picture_only_to_multiples_of_32():
    assert g.view_shape(1920, 1080, 512) == (288, 512)
    assert g.view_shape(720, 1160, 512) == (512, 320)   # CCPD stills: 318 px wide
    assert g.view_shape(640, 480, 512) == (384, 512)
    assert g.view_shape(500, 500, 512) == (512, 512)
    assert g.view_shape(4000, 100, 512) == (32, 512)     # never below one cell of the deepest stride
