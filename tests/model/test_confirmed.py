import numpy as np

from alprd.cascade.confirmed import ConfirmedPlaces


def _quad(x, y, w=100, h=30):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_a_place_read_confidently_in_full_skips_the_extra_looks_of_its_next_frame_only():
    places = ConfirmedPlaces()
    plates = [(0, _quad(10, 10)), (0, _quad(400, 10))]
    assert places.skip(["cam"], plates) == set()
    places.update(["cam"], plates, confident=[True, False], skipped=set())
    nxt = [(0, _quad(60, 30)),            # moved half a plate width: the same car
           (0, _quad(400, 10)),           # read, but not reportably, in full: no memory
           (0, _quad(10, 10, w=200)),     # twice as wide at the same place: another plate
           (0, _quad(250, 10))]           # moved 2.4 widths: another plate
    assert places.skip(["cam"], nxt) == {0}
    assert places.skip(["other"], nxt) == set()          # another camera's places are its own
    assert places.skip(None, nxt) == set()               # stills: always in full
    places.update(["cam"], nxt[:1], confident=[True], skipped={0})   # skipped: not remembered
    assert places.skip(["cam"], nxt[:1]) == set()        # so the frame after is looked at in full
    places.update(["cam"], nxt[:1], confident=[True], skipped=set())
    assert places.skip(["cam"], nxt[:1]) == {0}
    places.update(["cam"], [], confident=[], skipped=set())          # a frame without it: forgotten
    assert places.skip(["cam"], nxt[:1]) == set()
    off = ConfirmedPlaces(enabled=False)
    off.update(["cam"], plates, confident=[True, True], skipped=set())
    assert off.skip(["cam"], plates) == set()


def test_streams_of_one_batch_keep_their_own_places():
    places = ConfirmedPlaces()
    plates = [(0, _quad(10, 10)), (1, _quad(500, 300))]
    places.update(["a", "b"], plates, confident=[True, True], skipped=set())
    assert places.skip(["b", "a"], plates) == set()                  # swapped: neither is at its place
    assert places.skip(["a", "b"], plates) == {0, 1}
    places.update(["a"], plates[:1], confident=[False], skipped=set())   # only a's frame: b keeps its place
    assert places.skip(["a", "b"], plates) == {1}


def test_a_smeared_plate_read_right_in_full_gets_its_extra_looks_every_other_frame_of_its_camera():
    """The bundled sample smeared 15 px sideways: its first read is doubtful and no plate, the
    extra looks (wider warps, the smear undone) read it right. In a camera's stream it gets them
    in every other frame, one RSNet read in between (its first read, as it comes); the skipped
    frame does not make it a junk box (alprd.cascade.settled), stills and another camera are read
    in full, and with alternate=False every frame is."""
    import cv2

    from alprd.cascade import Recognizer
    from alprd.cli.recognize import sample_image
    from alprd.imageio import read_image

    img = cv2.filter2D(read_image(sample_image()), -1, np.ones((1, 15), np.float32) / 15)
    calls = []

    def recognizer(**kw):
        rec = Recognizer(threads=1, device="cpu", all_candidates=True, **kw)
        read_u8 = rec.backend.read_u8
        rec.backend.read_u8 = lambda x: calls.append(len(x)) or read_u8(x)
        return rec

    def reads_per_frame(rec, stream):
        calls.clear()
        (read,) = rec.recognize([img], None if stream is None else [stream])[0]
        return sum(calls), read.text

    rec = recognizer()
    got = [reads_per_frame(rec, "cam") for _ in range(6)]
    counts = [n for n, _ in got]
    assert [got[k][1] for k in (0, 2, 4)] == ["粤LQ092V"] * 3, got
    assert all(counts[k] > 1 for k in (0, 2, 4)) and [counts[k] for k in (1, 3, 5)] == [1] * 3, counts
    assert got[1][1] != "粤LQ092V"                           # the first read, as it comes
    assert reads_per_frame(rec, None) == got[0]               # a still: every look, every time
    assert reads_per_frame(rec, "cam2") == got[0]             # another camera's first sight of it
    off = recognizer(alternate=False)
    assert [reads_per_frame(off, "cam") for _ in range(3)] == [got[0]] * 3
