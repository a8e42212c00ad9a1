"""Evaluation through the serving Recognizer returns the documented metrics."""
import numpy as np
import pytest

from alprd.model.dsnet import DSNet
from alprd.cascade import Recognizer
from alprd.model.rsnet import RSNet
from alprd.model.weights import save_weights
from pipelines import evaluate as E
from pipelines.train_data import ToyCrops, ToyScenes
from pipelines.validation import as_samples

SCENE_KEYS = {"images", "e2e_acc", "det_precision", "det_recall", "det_f1", "rec_acc_on_detected",
              "recognition", "end_to_end_chars", "ms_per_image", "failures"}
TEXT_KEYS = {"plates", "exact_acc", "char_acc", "province_acc", "rest_char_acc", "by_kind", "confusions"}


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "w.pt"
    save_weights(path, DSNet(), RSNet(), {"note": "random"})
    return Recognizer(weights=str(path), device="cpu", backend="torch", det_threshold=0.0,
                      det_size=128)    # 8×8 cells, every one a detection: exercises matching quickly


def test_scene_metrics_keys(recognizer):
    ds = ToyScenes(2, seed=1)
    m = E.evaluate_scenes(recognizer, as_samples([ds[i] for i in range(2)], "toy"))
    assert SCENE_KEYS <= m.keys() and m["images"] == 2
    assert TEXT_KEYS <= m["recognition"].keys()
    assert 0 <= m["e2e_acc"] <= 1 and m["ms_per_image"] > 0


def test_crop_metrics_keys(recognizer):
    ds = ToyCrops(3, seed=1)
    m = E.evaluate_crops(recognizer, [(f"c{i}", ds[i]["image"], ds[i]["text"]) for i in range(3)])
    assert TEXT_KEYS <= m.keys() and m["crops"] == 3


def test_paper_rule_and_alignment():
    gt = np.array([[0, 0], [100, 0], [100, 30], [0, 30]], np.float32)
    assert E.match(gt[None], (gt + 5)[None]) == [0]
    assert E.match(gt[None], (gt + 60)[None]) == [-1]                   # IoU < 0.5: not detected
    st = E.TextStats()
    st.add("皖A12345", "皖A12345")
    st.add("皖A12345", "苏A1234")                                        # province wrong, a char lost
    st.add("浙AD12345", "浙AD12345")
    d = st.as_dict()
    assert d["exact_acc"] == round(2 / 3, 4) and d["province_acc"] == round(2 / 3, 4)
    assert d["by_kind"]["green8"]["acc"] == 1.0 and d["by_kind"]["blue7"]["acc"] == 0.5
    assert {"gt": "皖", "pred": "苏", "count": 1} in d["confusions"]
    assert d["char_acc"] == round(20 / 22, 4)


def test_run_on_real_dev_sets_when_present(tmp_path):
    from pipelines.data import data_root

    root = data_root()
    if root is None or not (root / "ccpd" / "dev").is_dir():
        pytest.skip("shared data not present")
    path = tmp_path / "w.pt"
    save_weights(path, DSNet(), RSNet(), {})
    res = E.run(str(path), ["ccpd_dev", "crops_dev", "ccpd_jitter_devval"], root, limit=2, backend="torch")
    assert res["sets"]["ccpd_dev"]["images"] == 2 and res["sets"]["crops_dev"]["crops"] == 2
    assert res["sets"]["ccpd_jitter_devval"]["reads"] == 2 * E.JITTER_DRAWS
    E.print_report(res)


def test_devval_sets_are_the_validation_slice_training_never_sees():
    from pipelines.data import data_root
    from pipelines.train_data import build_source, real_crop_val

    root = data_root()
    if root is None:
        pytest.skip("shared data not present")
    _, items = E.resolve_set("crops_devval", root)
    names = [n for n, _, _ in items]
    assert names == [n for n, _, _ in real_crop_val({"type": "crops"}, E.DEV_VAL_FRACTION)]
    train = build_source({"type": "crops", "n_synth": 0}, 512, E.DEV_VAL_FRACTION)
    trained = {p.name for p, *_ in train.real}
    all_dev = {n for n, _, _ in E.resolve_set("crops_dev", root)[1]}
    assert names and not trained & set(names) and set(names) <= all_dev
    _, scenes = E.resolve_set("ccpd_all_devval", root)
    ccpd_val = {s.name for s in scenes}
    assert ccpd_val and not ccpd_val & trained
    with pytest.raises(E.UnknownSet, match="_devval"):
        E.resolve_set("crops_val", root)


def test_box_crops_cut_each_plate_by_its_upright_box_to_lprnet_size():
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:80, 100:200] = 255                                   # the plate's upright box
    quad = np.array([[100, 55], [200, 50], [200, 75], [100, 80]], np.float32)
    far = np.array([[-20, 190], [40, 190], [40, 230], [-20, 230]], np.float32)   # partly outside
    sample = E.Sample("s", img, np.stack([quad, far]), ("皖A12345", "苏B54321"))
    out = list(E._box_crops([sample]))
    assert [(n, t) for n, _, t in out] == [("s#0", "皖A12345"), ("s#1", "苏B54321")]
    assert all(c.shape == (24, 94, 3) for _, c, _ in out)
    assert out[0][1].min() == 255 and out[1][1].max() == 0


def test_jitter_quad_errs_along_and_across_the_plate_like_a_detector():
    rng = np.random.default_rng(0)
    theta = np.deg2rad(30)                        # a tilted plate, 200 × 50 px
    u, v = np.array([np.cos(theta), np.sin(theta)]), np.array([-np.sin(theta), np.cos(theta)])
    quad = np.array([[0, 0], 200 * u, 200 * u + 50 * v, 50 * v], np.float32) + 300
    err = np.stack([E.jitter_quad(quad, rng) - quad for _ in range(4000)])      # N×4×2
    along, across = err @ u, err @ v
    assert abs(along.std() - 0.05 * 200) < 0.5 and abs(across.std() - 0.11 * 50) < 0.3
    assert abs(along.mean()) < 0.5 and abs(across.mean()) < 0.3
    again = np.random.default_rng(0)
    np.testing.assert_array_equal(E.jitter_quad(quad, again), err[0] + quad)   # seeded


def test_jittered_reads_read_every_plate_draws_times(recognizer):
    ds = ToyScenes(2, seed=1)
    samples = list(as_samples([ds[i] for i in range(2)], "toy"))
    m = E.evaluate_jittered(recognizer, samples, draws=3)
    plates = sum(len(s.texts) for s in samples)
    assert TEXT_KEYS <= m.keys() and m["reads"] == m["plates"] == 3 * plates
    assert m == {**E.evaluate_jittered(recognizer, samples, draws=3), "ms_per_read": m["ms_per_read"]}


def test_a_new_set_is_one_registration_and_an_unknown_one_is_an_error_not_an_exit(tmp_path, capsys):
    from pipelines.evaluation import sets

    @sets.register("toy_reads", "reads", "a registered test set", splits=False)
    def _toy(root, limit):
        yield "x.jpg", np.zeros((8, 8, 3), np.uint8), "ABC"

    try:
        kind, items = E.resolve_set("toy_reads", tmp_path)
        assert kind == "reads" and [n for n, _, _ in items] == ["x.jpg"]
        assert "toy_reads: a registered test set" in sets.set_names_help()
    finally:
        sets._FAMILIES.pop("toy_reads")
    with pytest.raises(E.UnknownSet, match="unknown set 'toy_reads'"):
        E.resolve_set("toy_reads", tmp_path)
    assert E.main(["--sets", "nope_dev", "--data", str(tmp_path)]) == 2   # before any weights load
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown set 'nope_dev'")
