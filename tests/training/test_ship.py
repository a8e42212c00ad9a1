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


def test_assemble_averages_several_checkpoints_of_a_net(tmp_path):
    torch.manual_seed(2)
    nets = [(DSNet(), RSNet()) for _ in range(3)]
    for i, (d, r) in enumerate(nets):
        save_weights(tmp_path / f"s{i}.pt", d, r, {"step": i})
    meta = assemble(tmp_path / "s0.pt", [tmp_path / f"s{i}.pt" for i in range(3)], tmp_path / "avg.pt")
    dsnet, rsnet, _ = build_models(tmp_path / "avg.pt")
    assert meta["rsnet_from"]["averaged"] == [str(tmp_path / f"s{i}.pt") for i in range(3)]
    states = [r.state_dict() for _, r in nets]
    for k, v in rsnet.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, sum(s[k] for s in states) / 3, atol=1e-6), k
        else:
            assert torch.equal(v, states[-1][k]), k
    for a, b in zip(dsnet.state_dict().values(), nets[0][0].state_dict().values()):   # one DSNet: as is
        assert torch.equal(a, b)


def test_ship_names_a_missing_checkpoint_and_exits_2(tmp_path, capsys):
    from pipelines.ship import main
    save_weights(tmp_path / "ok.pt", DSNet(), RSNet(), {})
    assert main(["--dsnet", str(tmp_path / "ok.pt"), "--rsnet", str(tmp_path / "gone.pt"),
                 "--out", str(tmp_path / "out.pt")]) == 2
    assert "gone.pt: weights file not found" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


def test_weights_from_before_a_class_was_added_average_with_current_ones(tmp_path):
    torch.manual_seed(3)
    old_r, new_r = RSNet(), RSNet()
    old_state = {k: v.clone() for k, v in old_r.state_dict().items()}
    for k in ("classifier.2.weight", "classifier.2.bias"):   # the head before 挂: one class fewer
        old_state[k] = old_state[k][:-1]
    torch.save({"dsnet": DSNet().state_dict(), "rsnet": old_state, "meta": {"trained": True}}, tmp_path / "old.pt")
    save_weights(tmp_path / "new.pt", DSNet(), new_r, {})
    assemble(tmp_path / "new.pt", [tmp_path / "old.pt", tmp_path / "new.pt"], tmp_path / "soup.pt")
    _, rsnet, _ = build_models(tmp_path / "soup.pt")
    got, new = rsnet.state_dict(), new_r.state_dict()
    w = got["classifier.2.weight"]
    assert w.shape == new["classifier.2.weight"].shape
    assert torch.allclose(w[:-1], (old_state["classifier.2.weight"] + new["classifier.2.weight"][:-1]) / 2, atol=1e-6)
    assert torch.allclose(w[-1], new["classifier.2.weight"][-1] / 2, atol=1e-6)  # the old head's padding is 0
