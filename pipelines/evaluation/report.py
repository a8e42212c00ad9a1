"""The evaluation's tables (rich): end to end, crops and jittered reads, reads, top confusions."""
from __future__ import annotations

import sys


def print_report(results: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 150)
    scenes = {k: v for k, v in results["sets"].items() if "e2e_acc" in v}
    crops = {k: v for k, v in results["sets"].items() if "crops" in v or "ms_per_read" in v}
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}"  # noqa: E731
    if scenes:
        t = Table(title=f"End to end, % ({results['weights']}; rec|det = reads right among detected plates)")
        for c in ("set", "imgs", "e2e", "det P", "det R", "det F1", "rec|det", "char",
                  "prov", "rest", "blue7", "green8", "ms/img"):
            t.add_column(c, justify="right" if c != "set" else "left")
        for name, m in scenes.items():
            rc = m["recognition"]
            kinds = rc["by_kind"]
            t.add_row(name, str(m["images"]), pct(m["e2e_acc"]), pct(m["det_precision"]), pct(m["det_recall"]),
                      pct(m["det_f1"]), pct(m["rec_acc_on_detected"]), pct(rc["char_acc"]),
                      pct(rc["province_acc"]), pct(rc["rest_char_acc"]),
                      pct(kinds.get("blue7", {}).get("acc")), pct(kinds.get("green8", {}).get("acc")),
                      str(m["ms_per_image"]))
        console.print(t)
    if crops:
        t = Table(title="Crops (RSNet alone) and jittered-corner reads, %")
        for c in ("set", "reads", "exact", "char", "prov", "rest", "blue7", "green8", "ms/read"):
            t.add_column(c, justify="right" if c != "set" else "left")
        for name, m in crops.items():
            kinds = m["by_kind"]
            t.add_row(name, str(m.get("crops", m.get("reads"))), pct(m["exact_acc"]), pct(m["char_acc"]),
                      pct(m["province_acc"]), pct(m["rest_char_acc"]), pct(kinds.get("blue7", {}).get("acc")),
                      pct(kinds.get("green8", {}).get("acc")), str(m.get("ms_per_crop", m.get("ms_per_read"))))
        console.print(t)
    for name, m in results["sets"].items():
        if "read_acc" in m:
            junk = (f", junk {m['junk']} of {m['reported']} reported ({pct(m['junk_frac'])} %)"
                    if "junk_frac" in m else "")
            t = Table(title=f"{name}: reads (labelled read right: {pct(m['read_acc'])} %{junk}, "
                            f"{m['ms_per_image']} ms/img)")
            for c in ("image", "label", "reads"):
                t.add_column(c)
            for r in m["reads"]:
                t.add_row(r["image"], r["label"] or "", " ".join(r["reads"]) or "—")
            console.print(t)
            continue
        conf = (m.get("recognition") or m).get("confusions") or []
        if conf:
            t = Table(title=f"Top confusions: {name}")
            t.add_column("gt")
            t.add_column("read as")
            t.add_column("count", justify="right")
            for c in conf[:10]:
                t.add_row(c["gt"], c["pred"], str(c["count"]))
            console.print(t)
