"""`alprd params`: parameter counts (and GFLOPs) of the two nets."""
from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("params", help="print the parameter counts of DSNet and RSNet")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def run(args) -> int:
    from alprd.model.dsnet import DSNet
    from alprd.model.rsnet import RSNet

    rows = {"dsnet": count(DSNet()), "rsnet": count(RSNet())}
    rows["total"] = rows["dsnet"] + rows["rsnet"]
    if args.json:
        print(json.dumps(rows))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table("net", "parameters")
    for k, v in rows.items():
        t.add_row(k, f"{v:,}")
    Console().print(t)
    return 0
