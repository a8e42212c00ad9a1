"""`alprd export`: write the ONNX files of DSNet and RSNet (opset 17, dynamic batch)."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export DSNet and RSNet to ONNX")
    p.add_argument("out", type=Path, help="output directory")
    p.add_argument("--weights", help="weights file (default: the shipped weights)")
    p.add_argument("--det-size", type=int, default=512)
    p.set_defaults(func=run)


def run(args) -> int:
    from alprd.model.export import export_onnx
    from alprd.model.weights import WeightsError, build_models

    try:
        dsnet, rsnet, _ = build_models(args.weights)
    except WeightsError as exc:
        print(f"error: {exc}")
        return 2
    for path in export_onnx(dsnet, rsnet, args.out, args.det_size):
        print(path)
    return 0
