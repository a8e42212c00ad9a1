"""`alprd recognize IMAGE...`: the cascade on still images."""
from __future__ import annotations

import json
import logging
import sys
import time
from importlib import resources
from pathlib import Path

from alprd.model.defaults import DET_THRESHOLD

log = logging.getLogger(__name__)


def sample_image() -> Path:
    return Path(str(resources.files("alprd").joinpath("data", "sample.jpg")))


def add_parser(sub) -> None:
    p = sub.add_parser("recognize", help="find and read plates in still images")
    p.add_argument("images", nargs="*", type=Path, help="image files (default: the bundled sample)")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--save-vis", type=Path, metavar="DIR",
                   help="write DIR/<name>_alprd.jpg: each image with its plates drawn (plate in Chinese, "
                        "read confidence; needs a CJK font such as Debian's fonts-wqy-microhei)")
    p.add_argument("--weights", help="weights file (default: the shipped weights)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--det-size", type=int, default=512, help="detector view side (multiple of 32)")
    p.add_argument("--threshold", type=float, default=DET_THRESHOLD,
                   help=f"detection confidence threshold (default {DET_THRESHOLD}, chosen on dev data)")
    p.add_argument("--any-format", action="store_true",
                   help="keep the raw greedy read even when it fits no plate layout")
    p.add_argument("--no-reread", action="store_true",
                   help="read each plate once, even when a character is doubtful")
    p.add_argument("--no-unsmear", action="store_true",
                   help="do not read a doubtful plate again with a motion smear undone")
    p.add_argument("--all", action="store_true", dest="all_candidates",
                   help="show every box the detector found, junk included (default: only reads of a valid "
                        "plate layout at confidence >= the read threshold)")
    p.add_argument("--provinces", default="", metavar="CHARS",
                   help="the site's common provinces, e.g. 粤桂: a prior on a plate's first character")
    p.set_defaults(func=run)


def _save_dir(path: Path) -> str | None:
    """None when `path` is (now) a directory to write into, else why not."""
    if path.exists() and not path.is_dir():
        return f"--save-vis: {path} exists and is not a directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--save-vis: cannot create {path} ({exc.strerror or exc})"
    return None


def run(args) -> int:
    from alprd.cli.textable import format_table
    from alprd.imageio import ImageError, read_image
    from alprd.cascade import Recognizer
    from alprd.model.province_prior import ProvincePrior
    from alprd.model.weights import WeightsError

    if args.save_vis and (why := _save_dir(args.save_vis)):
        print(f"error: {why}", file=sys.stderr)
        return 2
    try:
        rec = Recognizer(weights=args.weights, device=args.device, det_size=args.det_size,
                         det_threshold=args.threshold, plate_format=not args.any_format,
                         reread=not args.no_reread, unsmear=not args.no_unsmear, all_candidates=args.all_candidates or None,
                         provinces=ProvincePrior(c for c in args.provinces if c not in ", ") if args.provinces else None)
    except (WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rec.trained:
        print("warning: no trained weights: the model is randomly initialised and reads nothing", file=sys.stderr)
    images = args.images or [sample_image()]
    rows, failed, written = [], 0, 0
    for path in images:
        try:
            frame = read_image(path)
        except ImageError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        reads = rec.recognize([frame])[0]
        ms = (time.perf_counter() - t0) * 1000
        if args.json:
            print(json.dumps({
                "file": str(path), "width": frame.shape[1], "height": frame.shape[0], "ms": round(ms, 1),
                "plates": [{"plate": r.text, "confidence": round(r.text_conf, 4), "det_conf": round(r.det_conf, 4),
                            "char_confs": [round(c, 4) for c in r.char_confs],
                            "corners": [[round(x, 1), round(y, 1)] for x, y in r.corners]} for r in reads],
            }, ensure_ascii=False), flush=True)
        else:
            if not reads:
                rows.append(("-", "", "", "", f"{ms:.0f}", str(path)))
            for r in reads:
                corners = " ".join(f"{x:.0f},{y:.0f}" for x, y in r.corners)
                rows.append((r.text or "?", f"{r.text_conf:.2f}", f"{r.det_conf:.2f}", corners, f"{ms:.0f}", str(path)))
        if args.save_vis:
            written += _write_vis(args.save_vis, Path(path), frame, reads)
    if rows:
        print(format_table(("plate", "conf", "det", "corners (TL TR BR BL)", "ms", "file"), rows, right=(1, 2, 4)))
    if args.save_vis:
        print(f"{written} image(s) with the plates drawn written to {args.save_vis}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(images)} file(s) could not be read", file=sys.stderr)
    return 1 if failed else 0


def _write_vis(out_dir: Path, src: Path, frame, reads) -> int:
    """Write <stem>_alprd.jpg; 1 if written, 0 after an error line."""
    import cv2

    from alprd.vis import draw_reads

    dest = out_dir / (src.stem + "_alprd.jpg")
    try:
        ok, buf = cv2.imencode(".jpg", draw_reads(frame, reads))
        if not ok:
            raise OSError("JPEG encoding failed")
        dest.write_bytes(buf.tobytes())
    except OSError as exc:
        print(f"error: cannot write {dest} ({getattr(exc, 'strerror', None) or exc})", file=sys.stderr)
        return 0
    return 1
