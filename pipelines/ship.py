"""Assemble the shipped weights file from the best checkpoints of separate stages.

    python -m pipelines.ship --dsnet runs/det/best.pt --rsnet runs/rec/best.pt \
        --out alprd/model/weights/slpnet.pt

Used when the joint stage has not been run: DSNet from the detection stage, RSNet from the
recognition stage, the meta of both kept so `alprd recognize` can say what it serves.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet
from alprd.model.weights import load_checkpoint, save_weights


def assemble(dsnet_ckpt: str | Path, rsnet_ckpt: str | Path, out: str | Path, note: str = "") -> dict:
    a, b = load_checkpoint(dsnet_ckpt), load_checkpoint(rsnet_ckpt)
    dsnet, rsnet = DSNet(), RSNet()
    dsnet.load_state_dict(a["dsnet"])
    rsnet.load_state_dict(b["rsnet"])
    meta = {"dsnet_from": {"file": str(dsnet_ckpt), **dict(a.get("meta") or {})},
            "rsnet_from": {"file": str(rsnet_ckpt), **dict(b.get("meta") or {})},
            "note": note}
    save_weights(out, dsnet, rsnet, meta)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsnet", required=True)
    ap.add_argument("--rsnet", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", default="")
    a = ap.parse_args(argv)
    assemble(a.dsnet, a.rsnet, a.out, a.note)
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
