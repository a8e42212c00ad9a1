"""Cheaper decoding (alprd.stream.decoding) through the real FrameSource on real H.264 files:
skipping frames never changes which frames are sampled, their timestamps or their pixels; key
frames only while idle, and a clean picture again from the key frame that ends it; a hardware
decoder that is not there falls back to software, said once."""
from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest

from alprd.stream.decoding import DecodeParams, grey_view, limited_range
from alprd.stream.source import FrameSource
from videos import default_frame, frame_index

SIZE = (160, 120)
FPS = 25


def _video(path, frames: int, bframes: int, gop: int = FPS):
    """Like videos.make_video, with `bframes` B-frames (non-reference with b-pyramid off)."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"preset": "ultrafast", "bf": str(bframes), "b-pyramid": "none",
                                        "sc_threshold": "0"}
        for i in range(frames):
            img = default_frame(i, SIZE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def bframe_video(tmp_path_factory):
    return _video(tmp_path_factory.mktemp("bf") / "bf.mp4", 75, bframes=2)


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory):
    return _video(tmp_path_factory.mktemp("cam") / "cam.mp4", 100, bframes=0)


def _run(path, params: DecodeParams, fps=10.0):
    src = FrameSource(str(path), fps, decode=params)
    out = [(seq, ts, img) for seq, ts, img in src.frames()]
    return src, out


def test_skipping_non_reference_frames_samples_the_same_frames_with_the_same_pixels(bframe_video):
    full_src, full = _run(bframe_video, DecodeParams(skip_nonref=False))
    skip_src, skipped = _run(bframe_video, DecodeParams(skip_nonref=True))
    assert len(full) == 30  # 3 s of 25 fps sampled at 10 fps
    assert [f[0] for f in skipped] == [f[0] for f in full]
    assert [frame_index(f[2]) for f in skipped] == [frame_index(f[2]) for f in full]
    assert np.allclose([f[1] - skipped[0][1] for f in skipped], [f[1] - full[0][1] for f in full], atol=1e-6)
    for (_, _, a), (_, _, b) in zip(skipped, full):
        assert np.array_equal(a, b)
    # the B-frames between sampled frames were never decoded
    assert skip_src.counters.decoded < full_src.counters.decoded == 75
    assert skip_src._skip.skipped_nonref > 0


def test_a_stream_without_b_frames_decodes_every_frame_either_way(camera_video):
    src, frames = _run(camera_video, DecodeParams(skip_nonref=True))
    assert src.counters.decoded == 100 and len(frames) == 40  # reference frames cannot be skipped


def test_idle_decodes_key_frames_only_and_the_key_frame_that_ends_it_gives_clean_frames(camera_video):
    """Idle from the start; released at the first key frame from 2 s on: until then only key frames
    (one a second) are decoded; every frame after it is pixel-identical to a full decode."""
    _, full = _run(camera_video, DecodeParams(skip_nonref=False))
    by_index = {frame_index(img): img for _, _, img in full}
    src = FrameSource(str(camera_video), 10.0, decode=DecodeParams(idle_keyframes_after_s=1.0))
    src.set_idle(True)
    idle, after = [], []
    for _, _, vf in src.video_frames():
        img = vf.to_ndarray(format="bgr24")
        i = frame_index(img)
        (idle if src.idle else after).append(i)
        assert vf.key_frame or not src.idle
        if src.idle and i >= 2 * FPS:
            src.set_idle(False)
        assert np.array_equal(img, by_index[i]), f"frame {i} differs from a full decode"
    assert idle == [0, 25, 50]
    assert after == [i for i in sorted(by_index) if i > 50]
    assert src.counters.decoded == 3 + 49  # three key frames, then every frame after the third


def test_idle_is_refused_without_the_setting(camera_video):
    src = FrameSource(str(camera_video), 10.0, decode=DecodeParams())
    src.set_idle(True)
    assert not src.idle
    assert len(list(src.frames())) == 40


@pytest.mark.parametrize("hwaccel,device", [("cuda", "97"), ("no_such_device_type", None)])
def test_missing_hardware_decoder_falls_back_to_software_and_says_it_once(camera_video, caplog, hwaccel,
                                                                          device):
    caplog.set_level(logging.INFO)
    params = DecodeParams(hwaccel=hwaccel, hwaccel_device=device)
    src = FrameSource(str(camera_video), 10.0, loop=True, decode=params)
    frames = []
    for item in src.frames():  # three passes: three opens of the file
        frames.append(item)
        if len(frames) == 120:
            src.stop()
    assert len(frames) == 120 and not src.hw_active
    assert [frame_index(img) for _, _, img in frames[:40]] == [frame_index(img) for _, _, img in frames[40:80]]
    said = [r.getMessage() for r in caplog.records if "hardware decoding" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith("decoding in software") and hwaccel in said[0], said
    assert all(r.levelno < logging.ERROR for r in caplog.records)


def test_grey_view_is_the_luma_plane_without_a_copy(camera_video):
    with av.open(str(camera_video)) as c:
        vf = next(c.decode(video=0))
        grey = grey_view(vf)
        assert grey.shape == (SIZE[1], SIZE[0]) and not grey.flags.owndata
        assert np.array_equal(grey, vf.to_ndarray()[:SIZE[1]])  # yuv420p: Y rows, then U and V
        assert limited_range(vf)  # H.264 from a camera: luma in 16-235
