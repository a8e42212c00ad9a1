"""Each benchmark runs end to end on a tiny input. Timings are printed, never asserted."""
import json

from benchmarks import model, peers, pipeline


def test_model_benchmark_runs_on_a_tiny_input(capsys):
    assert model.main(["--batches", "1,2", "--repeats", "1", "--det-size", "64", "--frames", "96x64",
                       "--baseline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    stages = {(r["backend"], r["stage"], r["batch"]) for r in out["rows"]}
    for be in ("torch", "onnxruntime"):
        for st in ("dsnet", "rsnet", "cascade", "cascade v1"):
            assert (be, st, 1) in stages and (be, st, 2) in stages
    cascade = [r for r in out["rows"] if r["stage"] == "cascade"]
    assert all(r["agrees_with_torch"] for r in cascade)
    assert all(r["params"] > 0 and r["gflops"] > 0 for r in out["rows"])
    assert out["load_average_before"] and "cpu" in out["machine"]


def test_model_benchmark_table(capsys):
    assert model.main(["--batches", "1", "--repeats", "1", "--det-size", "64", "--frames", "64x64",
                       "--backends", "onnxruntime"]) == 0
    assert "frames/s" in capsys.readouterr().out


def test_pipeline_benchmark_runs_on_a_tiny_input(tmp_path):
    # the built weights light up on the benchmark's plate whatever the shipped weights can read,
    # so tracks, previews and finals are exercised deterministically
    from benchmarks.rigged import make_bright_plate_weights

    weights = str(make_bright_plate_weights(tmp_path / "bright.pt"))
    res = pipeline.bench([1], seconds=3.0, size=(256, 144), modes=["flat", "paced"], paced_fps=10,
                         weights=weights, backend="onnxruntime", max_batch=4, threads=1, workdir=tmp_path)
    rows = {r["mode"]: r for r in res["rows"]}
    assert set(rows) == {"flat", "paced"}
    assert res["plates"]["style"] == "drawn" and res["errors"] == []   # the built weights get drawn plates
    for r in rows.values():
        assert r["exit_code"] == 0 and r["error"] is None, r.get("stderr_tail")
        assert r["read"] is None          # no read accuracy for drawn plates
        f = r["frames"]
        assert f["received"] > 0 and f["processed"] > 0
        # exact accounting: every sampled frame processed, dropped or stale
        assert f["received"] == f["processed"] + f["dropped"] + f["stale"] + f["lost"]
        assert r["decode_only"]["frames"] == 75
        assert any(k.startswith("alprd: main") for k in r["rss"])
        assert any("worker" in k for k in r["rss"])
    assert rows["flat"]["ratio_to_decode_only"] > 0
    assert rows["paced"]["events"]["plate.final"] >= 1   # the built weights see the plate pass
    assert rows["paced"]["latency"]["final"]["n"] >= 1
    pipeline.print_table(res)


def test_peers_benchmark_says_when_no_peer_ran(tmp_path, monkeypatch, capsys):
    import cv2

    from benchmarks.scenes import frame_with_plate

    for i in range(2):
        cv2.imwrite(str(tmp_path / f"img{i}.jpg"), frame_with_plate((320, 240), seed=i)[0])
    monkeypatch.setenv("ALPRD_PEER_PYTHON", str(tmp_path / "no-such-python"))
    res = peers.bench(str(tmp_path), 10, None, "onnxruntime", 1, None)
    assert res["n_images"] == 2 and len(res["rows"]) == 2     # alprd as served, and one read per plate
    assert ["reread" in r["system"] for r in res["rows"]] == [True, False]
    assert "no peer ran" in res["peer_note"]
    peers.print_table(res)
    assert "no peer ran" in capsys.readouterr().out


def test_peers_summary_counts_exact_reads():
    labels = {"a": "皖A12345", "b": "皖B00001", "c": None}
    run = {"system": "x", "results": [
        {"path": "a", "reads": [["皖A12345", 0.9, None]], "ms": 1.0, "cpu_ms": 1.0},
        {"path": "b", "reads": [["皖B0000", 0.9, None], ["皖B00001", 0.5, None]], "ms": 3.0, "cpu_ms": 2.0},
        {"path": "c", "reads": [], "ms": 2.0, "cpu_ms": 1.0}]}
    s = peers.summarise(run, labels)
    assert (s["labelled"], s["plates_read"], s["accuracy"], s["top_read_accuracy"]) == (2, 2, 1.0, 0.5)
    assert s["images_with_a_read"] == 2 and s["median_ms"] == 2.0
