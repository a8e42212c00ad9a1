"""`alprd export DIR`: write the ONNX files of DSNet and RSNet (opset 17, dynamic batch).

Four files: dsnet.onnx / rsnet.onnx take float N×3×H×W input in [-1, 1]; dsnet_u8.onnx /
rsnet_u8.onnx take the uint8 N×H×W×3 BGR pixels themselves (what the daemon serves). DSNet is
exported for a square det_size view, and with --frame WxH also for the tighter view the daemon
uses for frames of that size (1920x1080 → 512×288). docs/onnx.md says what goes in and comes out.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ABOUT = {
    "dsnet": "detector, float N×3×H×W in [-1, 1] → maps N×12×H/16×W/16",
    "dsnet_u8": "detector, uint8 N×H×W×3 BGR → maps N×12×H/16×W/16",
    "rsnet": "reader, float N×3×48×144 in [-1, 1] → logits N×18×C (CTC)",
    "rsnet_u8": "reader, uint8 N×48×144×3 BGR → logits N×18×C (CTC)",
}


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export DSNet and RSNet to ONNX (see docs/onnx.md)")
    p.add_argument("out", type=Path, help="output directory (created if missing)")
    p.add_argument("--weights", help="weights file (default: the shipped weights)")
    p.add_argument("--det-size", type=int, default=512, help="the detector view's long side (default 512)")
    p.add_argument("--frame", metavar="WxH",
                   help="also export DSNet for the view of WxH frames, as the daemon runs it "
                        "(e.g. 1920x1080 → dsnet_288x512.onnx, a 512×288 view)")
    p.set_defaults(func=run)


def _fail(msg: str) -> int:
    print(f"alprd export: {msg}", file=sys.stderr)
    return 2


def run(args) -> int:
    from alprd.model import geometry
    from alprd.model.export import FORMS, export_net, export_onnx
    from alprd.model.weights import WeightsError, build_models

    if args.det_size <= 0 or args.det_size % geometry.VIEW_ALIGN:
        return _fail(f"--det-size must be a positive multiple of {geometry.VIEW_ALIGN}")
    view = None
    if args.frame:
        m = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", args.frame)
        if not m or not int(m[1]) or not int(m[2]):
            return _fail(f"--frame: expected WIDTHxHEIGHT such as 1920x1080, got {args.frame!r}")
        view = geometry.view_shape(int(m[1]), int(m[2]), args.det_size)
    if args.out.exists() and not args.out.is_dir():
        return _fail(f"{args.out} exists and is not a directory")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create {args.out} ({exc.strerror or exc})")
    try:
        dsnet, rsnet, _ = build_models(args.weights)
    except WeightsError as exc:
        return _fail(str(exc))
    paths = list(export_onnx(dsnet, rsnet, args.out, args.det_size))
    if view and view != (args.det_size, args.det_size):
        paths += [export_net("dsnet", dsnet, args.out, args.det_size, form, view) for form in FORMS]
    for path in paths:
        kind = path.stem.split("_")
        key = "_".join(k for k in kind if not re.fullmatch(r"\d+x\d+", k))
        shape = next((k for k in kind if re.fullmatch(r"\d+x\d+", k)), None)
        note = ABOUT.get(key, "")
        if key.startswith("dsnet"):
            h, w = (int(v) for v in shape.split("x")) if shape else (args.det_size, args.det_size)
            note += f", view {w}×{h} (W×H)"
        print(f"{path}  {note}")
    print("inputs, outputs and post-processing: docs/onnx.md", file=sys.stderr)
    return 0
