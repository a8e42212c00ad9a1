"""Assemble the shipped weights file from the best checkpoints of separate stages.

    python -m pipelines.ship --dsnet runs/det/best.pt --rsnet runs/rec/best.pt \
        --out alprd/model/weights/slpnet.pt

Used when the joint stage has not been run: DSNet from the detection stage, RSNet from the
recognition stage, the meta of both kept so `alprd recognize` can say what it serves. Several
checkpoints of one net (e.g. snapshots of a run's low-learning-rate tail) are averaged weight by
weight, BatchNorm statistics included.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet
from alprd.model.weights import WeightsError, load_checkpoint, save_weights


def average_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts of one architecture; integer buffers (BatchNorm's
    batch counters) are taken from the last."""
    if not states:
        raise ValueError("no state dicts to average")
    out = {}
    for k, v in states[-1].items():
        out[k] = torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
    return out


def _as_current(state: dict[str, torch.Tensor], net: str) -> dict[str, torch.Tensor]:
    """A state dict in this code's shapes: the net's own loading brings an older one up to date
    (RSNet pads the 68-class head of weights from before 挂 to 69), so old and new can be averaged."""
    model = DSNet() if net == "dsnet" else RSNet()
    model.load_state_dict(state)
    return model.state_dict()


def _load(ckpts: str | Path | Sequence[str | Path], net: str) -> tuple[dict, dict]:
    """The averaged `net` state of one or more checkpoints, and the provenance to record."""
    ckpts = [ckpts] if isinstance(ckpts, (str, Path)) else list(ckpts)
    loaded = [load_checkpoint(c) for c in ckpts]
    state = average_states([_as_current(c[net], net) for c in loaded])
    if len(ckpts) == 1:
        return state, {"file": str(ckpts[0]), **dict(loaded[0].get("meta") or {})}
    return state, {"averaged": [str(c) for c in ckpts], **dict(loaded[-1].get("meta") or {})}


def assemble(dsnet_ckpt: str | Path | Sequence[str | Path], rsnet_ckpt: str | Path | Sequence[str | Path],
             out: str | Path, note: str = "") -> dict:
    dsnet, rsnet = DSNet(), RSNet()
    d_state, d_from = _load(dsnet_ckpt, "dsnet")
    r_state, r_from = _load(rsnet_ckpt, "rsnet")
    dsnet.load_state_dict(d_state)
    rsnet.load_state_dict(r_state)
    meta = {"dsnet_from": d_from, "rsnet_from": r_from, "note": note}
    save_weights(out, dsnet, rsnet, meta)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsnet", required=True, nargs="+", help="checkpoint(s); several are averaged")
    ap.add_argument("--rsnet", required=True, nargs="+", help="checkpoint(s); several are averaged")
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", default="")
    a = ap.parse_args(argv)
    try:
        assemble(a.dsnet, a.rsnet, a.out, a.note)
    except WeightsError as exc:             # a missing or foreign checkpoint: one line, not a trace
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
