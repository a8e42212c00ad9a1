"""`alprd check-config -c FILE`: validate a configuration without starting anything.

Exit 0 with a short summary when the file is good; exit 2 with one line per problem (each naming
its key path) when it is not. `alprd run` applies exactly the same checks before it starts.
"""
from __future__ import annotations

import sys

from alprd.cli.run import DEFAULT_CONFIG_HELP, load_checked


def add_parser(sub) -> None:
    p = sub.add_parser("check-config", help="validate a configuration file and exit")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when the file is good")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg, path = load_checked(args.config)
    if cfg is None:
        return 2
    if not args.quiet:
        from alprd.config import camera_fps
        from alprd.sinks.factory import jsonl_path

        print(f"{path}: OK")
        for cam in cfg.cameras:
            extras = []
            if cam.roi:
                extras.append(f"roi {cam.roi.width}x{cam.roi.height}+{cam.roi.x}+{cam.roi.y}")
            if cam.polygon:
                extras.append(f"polygon of {len(cam.polygon)} points")
            if cam.loop:
                extras.append("looped")
            if not cam.enabled:
                extras.append("DISABLED")
            from alprd.stream.source import mask_url

            print(f"  camera {cam.id}: {mask_url(cam.url)} @ {camera_fps(cfg, cam):g} fps"
                  + (f" ({', '.join(extras)})" if extras else ""))
        inf = cfg.inference
        print(f"  inference: device {inf.device}, backend {inf.backend}, batch {inf.max_batch or 'auto'}, "
              f"wait {inf.max_wait_ms:g} ms, weights {inf.weights or 'shipped'}")
        s = cfg.sinks
        sinks = []
        if s.stdout.enabled:
            sinks.append("stdout" + (" (json)" if s.stdout.as_json else ""))
        if s.jsonl.enabled:
            sinks.append(f"jsonl {jsonl_path(cfg)}")
        if s.sql.enabled:
            from alprd.sinks.db_url import display_url

            sinks.append(f"sql {display_url(s.sql.url)}")
        if s.bus.enabled:
            sinks.append(f"bus {s.bus.endpoint}")
        if s.webhooks:
            from alprd.sinks.webhook import mask_url as mask_hook

            sinks += [f"webhook {t.name} {mask_hook(t.url)}" for t in s.webhooks]
        if s.mqtt.enabled:
            sinks.append(f"mqtt {'mqtts' if s.mqtt.tls.enabled else 'mqtt'}://{s.mqtt.host}:{s.mqtt.port}")
        print(f"  sinks: {', '.join(sinks) or 'none'}")
        print(f"  state: {cfg.storage.state_dir}" + (" (crops saved)" if cfg.storage.crops else ""))
    sys.stdout.flush()
    return 0
