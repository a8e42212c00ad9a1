from __future__ import annotations

from pipelines.data.crops import check_label, label_from_filename, load_crops_csv, load_crops_dir, load_real_crops


def test_label_from_filename():
    assert label_from_filename("皖A12345.jpg") == "皖A12345"
    assert label_from_filename("/x/_8_冀D5L690.jpg") == "冀D5L690"
    assert label_from_filename("_12_皖KD01833.png") == "皖KD01833"


def test_check_label():
    assert check_label("皖A12345") is None
    assert check_label("皖AD12345") is None
    assert "length" in check_label("皖A1234")
    assert "not in the charset" in check_label("皖A1234I")     # I is not used on plates
    assert "not in the charset" in check_label("港A12345")


def test_dir_loader_flags_bad_labels(tmp_path):
    for n in ("皖A12345.jpg", "_3_沪B99999.jpg", "粤A1234O.jpg", "short.png", "readme.txt"):
        (tmp_path / n).write_bytes(b"")
    idx = load_crops_dir(tmp_path)
    assert sorted(s.text for s in idx.samples) == ["沪B99999", "皖A12345"]
    assert sorted(p.name for p, _ in idx.rejected) == ["short.png", "粤A1234O.jpg"]


def test_csv_loader_keeps_one_split(tmp_path):
    (tmp_path / "plates_cropped" / "dev").mkdir(parents=True)
    (tmp_path / "plates_cropped" / "holdout").mkdir(parents=True)
    (tmp_path / "plates_cropped" / "dev" / "a.jpg").write_bytes(b"")
    (tmp_path / "plates_cropped" / "holdout" / "b.jpg").write_bytes(b"")
    csv = tmp_path / "plates_cropped" / "labels.csv"
    csv.write_text("path,plate,split\n"
                   "plates_cropped/dev/a.jpg,皖A12345,dev\n"
                   "plates_cropped/holdout/b.jpg,皖B12345,holdout\n"
                   "plates_cropped/dev/gone.jpg,皖C12345,dev\n", encoding="utf-8")
    idx = load_crops_csv(csv, "dev")
    assert [s.text for s in idx.samples] == ["皖A12345"]
    assert [why for _, why in idx.rejected] == ["file missing"]


def test_real_dev_crops(shared_data):
    idx = load_real_crops(shared_data, "dev")
    assert len(idx.samples) > 1500
    assert all("/holdout/" not in str(s.path) for s in idx.samples)
    assert all(s.path.is_file() for s in idx.samples[:50])
    names = {s.path.name: s.text for s in idx.samples}
    assert names.get("_8_冀D5L690.jpg") == "冀D5L690"
    assert any(len(s.text) == 8 for s in idx.samples)
