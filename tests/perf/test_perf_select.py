import json

import pytest

from alprd.backends import onnx_backend, select
from alprd.backends.torch_backend import TorchBackend
from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet

ort_only = pytest.mark.skipif(not onnx_backend.available(), reason="onnxruntime not installed")


@ort_only
def test_auto_measures_once_then_reads_the_cached_choice(tmp_path, monkeypatch):
    calls = []
    real = select.measure

    def counting(backends, det_size, rounds=3):
        calls.append(sorted(backends))
        return real(backends, det_size, rounds=1)

    monkeypatch.setattr(select, "measure", counting)
    be = select.make_backend("auto", DSNet().eval(), RSNet().eval(), "cpu", 64, 1)
    assert calls == [["onnxruntime", "torch"]]
    data = json.loads((onnx_backend.cache_dir() / select.CHOICE_FILE).read_text())
    (record,) = data.values()
    assert record["choice"] == be.name and set(record["ms"]) == {"onnxruntime", "torch"}
    # other weights of the same architecture: the cached choice, no new measurement
    be2 = select.make_backend("auto", DSNet().eval(), RSNet().eval(), "cpu", 64, 1)
    assert be2.name == be.name and len(calls) == 1
    # another detector size is another question
    select.make_backend("auto", DSNet().eval(), RSNet().eval(), "cpu", 96, 1)
    assert len(calls) == 2


@ort_only
def test_a_cached_torch_choice_gives_the_torch_backend(monkeypatch):
    ds, rs = DSNet().eval(), RSNet().eval()
    key = select.choice_key(ds, rs, 64, 0)
    (onnx_backend.cache_dir() / select.CHOICE_FILE).write_text(json.dumps({key: {"choice": "torch"}}))
    monkeypatch.setattr(select, "measure", lambda *a, **k: pytest.fail("measured despite the cache"))
    assert isinstance(select.make_backend("auto", ds, rs, "cpu", 64, 0), TorchBackend)


def test_explicit_and_invalid_choices():
    ds, rs = DSNet().eval(), RSNet().eval()
    assert select.make_backend("torch", ds, rs, "cpu", 64, 0).name == "torch"
    with pytest.raises(ValueError, match="unknown inference backend"):
        select.make_backend("tensorrt", ds, rs, "cpu", 64, 0)
    with pytest.raises(ValueError, match="CPU"):
        select.make_backend("onnxruntime", ds, rs, "cuda", 64, 0)


def test_cpu_torch_backend_never_touches_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    be = TorchBackend(DSNet().eval(), RSNet().eval(), "auto")
    assert be.device.type == "cpu" and not be.cuda and not be.upload.pinned
