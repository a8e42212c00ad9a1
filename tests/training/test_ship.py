import torch

from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet
from alprd.model.weights import build_models, save_weights
from pipelines.ship import assemble


def test_assemble_takes_each_net_from_its_stage(tmp_path):
    torch.manual_seed(1)
    det_d, det_r = DSNet(), RSNet()
    rec_d, rec_r = DSNet(), RSNet()
    save_weights(tmp_path / "det.pt", det_d, det_r, {"stage": "det"})
    save_weights(tmp_path / "rec.pt", rec_d, rec_r, {"stage": "rec"})
    meta = assemble(tmp_path / "det.pt", tmp_path / "rec.pt", tmp_path / "ship.pt", "test")
    dsnet, rsnet, loaded = build_models(tmp_path / "ship.pt")
    assert loaded["trained"] and meta["dsnet_from"]["stage"] == "det" and meta["rsnet_from"]["stage"] == "rec"
    for a, b in zip(dsnet.state_dict().values(), det_d.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(rsnet.state_dict().values(), rec_r.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.equal(rsnet.state_dict()["stem.0.weight"], det_r.state_dict()["stem.0.weight"])
