import numpy as np

from alprd.cascade import Recognizer
from alprd.cascade.settled import SettledJunk
from alprd.cli.recognize import sample_image
from alprd.imageio import read_image


def _quad(x, y, w=100, h=30):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_a_streams_junk_box_is_settled_until_its_recheck_and_only_where_it_was():
    memory = SettledJunk(recheck_every=3)
    plates = [(0, _quad(10, 10)), (0, _quad(300, 10))]
    assert memory.settled(["cam"], plates) == {}
    memory.update(["cam"], plates, junk=[True, False], skipped={})      # looked at in full: age 0
    moved = [(0, _quad(12, 11)), (0, _quad(60, 10)), (0, _quad(300, 10))]
    assert memory.settled(["cam"], moved) == {0: 0}      # same place: settled; moved away or a plate: not
    assert memory.settled(["other"], moved) == {}        # another camera's boxes are its own
    assert memory.settled(None, moved) == {}             # stills: always in full
    memory.update(["cam"], moved[:1], junk=[True], skipped={0: 0})       # read once: age 1
    assert memory.settled(["cam"], moved[:1]) == {0: 1}
    memory.update(["cam"], moved[:1], junk=[True], skipped={0: 1})       # age 2: due for a full look
    assert memory.settled(["cam"], moved[:1]) == {}
    memory.update(["cam"], [], junk=[], skipped={})                      # a frame without it: forgotten
    assert memory.settled(["cam"], moved[:1]) == {}
    assert SettledJunk(recheck_every=0).settled(["cam"], moved) == {}


def test_a_box_that_reads_as_no_plate_gets_its_extra_looks_every_nth_frame_of_its_camera():
    """The bundled sample with its plate mirrored: DSNet still boxes it, its read is no plate,
    even after every extra look. In a camera's stream it gets the rereads in its first frame and every 4th after, one
    RSNet read in between; stills, another camera and a real plate are read as before."""
    img = read_image(sample_image())
    rec = Recognizer(threads=1, device="cpu", junk_recheck=4, all_candidates=True)
    (quad,), _ = rec.detect([img])[0]
    x0, y0 = quad.min(0).astype(int)
    x1, y1 = quad.max(0).astype(int)
    junk = img.copy()
    junk[y0:y1, x0:x1] = img[y0:y1, x0:x1][:, ::-1]
    calls = []
    read_u8 = rec.backend.read_u8
    rec.backend.read_u8 = lambda x: calls.append(len(x)) or read_u8(x)

    def reads_per_frame(frame, stream):
        calls.clear()
        (read,) = rec.recognize([frame], None if stream is None else [stream])[0]
        return len(calls), read.text

    got = [reads_per_frame(junk, "cam") for _ in range(9)]
    counts = [n for n, _ in got]
    assert counts[0] > 1 and counts[4] > 1 and counts[8] > 1, counts
    assert [counts[k] for k in (1, 2, 3, 5, 6, 7)] == [1] * 6, counts
    assert len({text for _, text in got[1:4]}) == 1       # read once: the plain first read
    assert reads_per_frame(junk, None)[0] == counts[0]    # a still: every look, every time
    assert reads_per_frame(junk, "cam2")[0] == counts[0]  # another camera's first sight of it
    assert [reads_per_frame(img, "cam")[1] for _ in range(2)] == ["粤LQ092V"] * 2
