"""Train SLPNet from a YAML config.

    python -m pipelines.train -c pipelines/configs/<rec|det|joint|tiny>.yaml [--resume]
                              [--device cpu|cuda|auto] [--out runs/NAME] [--max-minutes M]
                              [--steps N] [--set key.sub=value ...]

Stages (config `stage`):
  rec    RSNet alone on crops (synthetic + real dev crops), CTC.
  det    DSNet alone on synthetic scenes + real dev CCPD, MG loss + Gaussian-score focal loss.
  joint  L = L_det + rec_weight·L_rec, RSNet reading plates warped out of the input batch through
         geometry.warp_plates_torch: from GT corners until the validation mean Gaussian score of
         the predicted corners passes `joint.switch_threshold`, then from the predicted corners
         (gradients flow through the warp into the corner regression), as the paper does.

Writes under runs/NAME/: config.yaml, metrics.jsonl (train and val lines), last.pt (model,
optimizer, scheduler, scaler, step, RNG state, best metric: `--resume` continues exactly),
best.pt (the shipped weights format, alprd.model.weights.save_weights, chosen on dev validation).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import signal
import subprocess
import time
from pathlib import Path

import torch
import yaml

from alprd.model import geometry
from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet
from alprd.model.weights import load_checkpoint, save_weights
from pipelines import train_data as TD
from pipelines import validation as V
from pipelines.losses import DetLossConfig, ctc_loss, detection_loss, gaussian_scores, plate_sigma
from pipelines.targets import TargetConfig

DEFAULTS: dict = {
    "name": None, "stage": "det", "seed": 0, "device": "auto", "threads": 0,
    "steps": 10_000, "batch_size": 16, "det_size": 512,
    "optim": {"lr": 2e-3, "weight_decay": 1e-4, "schedule": "cosine", "warmup_steps": 200,
              "min_lr_ratio": 0.02, "grad_clip": 5.0, "betas": [0.9, 0.999]},
    "amp": "auto", "channels_last": "auto", "compile": False,
    "workers": 2, "prefetch": 4, "log_every": 20, "ckpt_every": 500, "val_every": 1000,
    "init": [], "loss": {}, "targets": {},
    "joint": {"rec_weight": 0.5, "switch_threshold": 0.6, "corners": "auto", "rec_before_switch": True,
              "pred_min_gauss": 0.0, "train": ["dsnet", "rsnet"]},
    "val": {"select": None, "det_threshold": 0.5},
    "data": {"val_fraction": 0.2, "train": [], "val": []},
}
SELECT = {"rec": "val/all_crops/exact_acc", "det": "val/mean_gauss", "joint": "val/e2e_acc"}


# ---------------------------------------------------------------- config

def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path, sets: list[str] | None = None) -> dict:
    """YAML over DEFAULTS; `base: other.yaml` (relative to the file) is merged first; then
    --set dotted overrides (values parsed as YAML)."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base = raw.pop("base", None)
    cfg = load_config(path.parent / base) if base else copy.deepcopy(DEFAULTS)
    cfg = _merge(cfg, raw)
    for s in sets or []:
        key, _, val = s.partition("=")
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        node[int(leaf) if isinstance(node, list) else leaf] = yaml.safe_load(val)
    cfg["name"] = cfg.get("name") or path.stem
    if cfg["stage"] not in ("rec", "det", "joint"):
        raise SystemExit(f"{path}: stage must be rec, det or joint, got {cfg['stage']!r}")
    return cfg


# ---------------------------------------------------------------- small helpers

def load_modules(net: torch.nn.Module, state: dict, modules: list[str] | None = None) -> None:
    """A checkpoint's weights into `net`: all of them, or only its named top-level modules (an
    init's `modules: [stem, stage2]`: a backbone kept, the rest left as initialised)."""
    if modules is None:
        net.load_state_dict(state)
        return
    unknown = [m for m in modules if not hasattr(net, m)]
    if unknown:
        raise ValueError(f"init: {type(net).__name__} has no module {', '.join(unknown)}")
    picked = {k: v for k, v in state.items() if k.split(".", 1)[0] in modules}
    missing, unexpected = net.load_state_dict(picked, strict=False)
    left = [k for k in missing if k.split(".", 1)[0] in modules]
    if left or unexpected:
        raise ValueError(f"init: the checkpoint does not fit {', '.join(modules)} ({(left + unexpected)[:3]})")


def lr_factor(step: int, cfg: dict) -> float:
    o, total = cfg["optim"], max(1, cfg["steps"])
    warm = min(o["warmup_steps"], total // 2)
    if step < warm:
        return (step + 1) / warm
    if o["schedule"] == "constant":
        return 1.0
    p = (step - warm) / max(1, total - warm)
    if o["schedule"] == "onecycle":   # linear decay after the warm-up peak
        return max(o["min_lr_ratio"], 1.0 - p)
    return o["min_lr_ratio"] + (1 - o["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def rng_state() -> dict:
    st = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    random.setstate(_tuplify(st["python"]))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except Exception:
        return None


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _worker_init(worker_id: int) -> None:
    """DataLoader workers: single-threaded OpenCV/torch (pipelines.datasets.worker_init_fn), and
    deaf to Ctrl-C, so that the main process can finish the step and write its checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from pipelines.datasets import worker_init_fn
    except ImportError:
        import cv2

        cv2.setNumThreads(1)
        torch.set_num_threads(1)
    else:
        worker_init_fn(worker_id)


# ---------------------------------------------------------------- the trainer

class Trainer:
    def __init__(self, cfg: dict, out: Path, device: str, resume: bool):
        self.cfg, self.out, self.stage = cfg, out, cfg["stage"]
        dev = cfg["device"] if device in (None, "") else device
        self.device = torch.device("cuda" if dev == "auto" and torch.cuda.is_available() else
                                   "cpu" if dev == "auto" else dev)
        cuda = self.device.type == "cuda"
        # 0 = the cores the DataLoader workers leave free: on a shared 2-core box one thread is
        # 2-3× faster than two (OpenMP threads spin-wait on every op when the cores are busy)
        torch.set_num_threads(cfg["threads"] or max(1, (os.cpu_count() or 1) - int(cfg["workers"])))
        random.seed(cfg["seed"])
        torch.manual_seed(cfg["seed"])
        if cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        amp = cfg["amp"]
        if amp == "auto":
            amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "off"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        cl = cfg["channels_last"]
        self.channels_last = (cuda or self.stage != "rec") if cl == "auto" else bool(cl)

        self.dsnet, self.rsnet = DSNet(), RSNet()
        for spec in cfg["init"] or []:
            if spec.get("optional") and not Path(spec["path"]).exists():
                print(f"init: {spec['path']} not found (optional): {', '.join(spec.get('parts', ['dsnet', 'rsnet']))} "
                      "keep what the entries before gave them (fresh if none)")
                continue
            ck = load_checkpoint(spec["path"])
            for part in spec.get("parts", ["dsnet", "rsnet"]):
                load_modules(getattr(self, part), ck[part], spec.get("modules"))
        self.dsnet.to(self.device)
        self.rsnet.to(self.device)
        if self.channels_last:
            self.dsnet.to(memory_format=torch.channels_last)
        self.train_nets = {"rec": [self.rsnet], "det": [self.dsnet], "joint": self._joint_nets()}[self.stage]
        params = [p for n in self.train_nets for p in n.parameters()]
        o = cfg["optim"]
        self.opt = torch.optim.AdamW(params, lr=o["lr"], weight_decay=o["weight_decay"], betas=tuple(o["betas"]))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, cfg))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        self.det_cfg = DetLossConfig.from_dict(cfg["loss"])
        self.tgt_cfg = TargetConfig.from_dict(cfg["targets"])
        self.fwd_ds = torch.compile(self.dsnet.forward_logits) if cfg["compile"] else self.dsnet.forward_logits
        self.fwd_rs = torch.compile(self.rsnet) if cfg["compile"] else self.rsnet

        self.step, self.best, self.switched, self.elapsed = 0, -math.inf, False, 0.0
        self.last_val: dict = {}
        out.mkdir(parents=True, exist_ok=True)
        if resume and (out / "last.pt").exists():
            self.load(out / "last.pt")
        elif resume:
            print(f"--resume: no checkpoint at {out / 'last.pt'}: starting from step 0")
        (out / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")

    # ------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        return {"dsnet": self.dsnet.state_dict(), "rsnet": self.rsnet.state_dict(), "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "scaler": self.scaler.state_dict(), "step": self.step,
                "best": self.best, "switched": self.switched, "elapsed": self.elapsed, "rng": rng_state(),
                "last_val": self.last_val, "stage": self.stage}

    def save(self) -> None:
        atomic_save(self.state(), self.out / "last.pt")

    def load(self, path: Path) -> None:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        self.dsnet.load_state_dict(ck["dsnet"])
        self.rsnet.load_state_dict(ck["rsnet"])
        self.opt.load_state_dict(ck["opt"])
        self.sched.load_state_dict(ck["sched"])
        self.scaler.load_state_dict(ck["scaler"])
        self.step, self.best, self.switched = ck["step"], ck["best"], ck["switched"]
        self.elapsed, self.last_val = ck.get("elapsed", 0.0), ck.get("last_val", {})
        set_rng_state(ck["rng"])
        print(f"resumed {path} at step {self.step}")

    def save_best(self, metrics: dict) -> None:
        c = self.cfg
        meta = {"stage": self.stage, "config": c["name"], "steps": self.step, "time_s": round(self.elapsed, 1),
                "batch_size": c["batch_size"], "det_size": c["det_size"], "seed": c["seed"],
                "data": {"train": c["data"]["train"], "val": c["data"]["val"],
                         "val_fraction": c["data"]["val_fraction"], "init": c["init"]},
                "hardware": torch.cuda.get_device_name(self.device) if self.device.type == "cuda"
                else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
                "val": metrics, "git": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        tmp = self.out / "best.tmp"
        save_weights(tmp, self.dsnet, self.rsnet, meta)
        os.replace(tmp, self.out / "best.pt")

    # ------------------------------------------------------------ data
    def loader(self):
        c = self.cfg
        specs = TD.for_stage(c["data"]["train"], self.stage)
        if not specs:
            raise SystemExit(f"config data.train lists no sources for the {self.stage} stage")
        vf = c["data"]["val_fraction"]
        sources = [TD.build_source(s, c["det_size"], vf) for s in specs]
        mix = TD.Mixture(sources, [s.get("weight", 1.0) for s in specs], seed=c["seed"])
        ds = TD.RecTrainSet(mix) if self.stage == "rec" else TD.DetTrainSet(mix, c["det_size"], self.tgt_cfg)
        b = c["batch_size"]
        w = int(c["workers"])
        return torch.utils.data.DataLoader(
            ds, batch_size=b, sampler=TD.StepSampler(self.step * b, c["steps"] * b), num_workers=w,
            collate_fn=TD.collate_rec if self.stage == "rec" else TD.collate_det,
            pin_memory=self.device.type == "cuda", drop_last=True, persistent_workers=w > 0,
            generator=torch.Generator().manual_seed(c["seed"]),   # keeps the global RNG (dropout) resumable
            prefetch_factor=c["prefetch"] if w > 0 else None, worker_init_fn=_worker_init if w > 0 else None)

    # ------------------------------------------------------------ one step
    def rec_corners(self, batch: dict, logits: torch.Tensor, extras: dict) -> torch.Tensor:
        """Corners to warp each GT plate from: predicted (best-scoring positive cell, with grad)
        once switched (or always / never by config), else GT."""
        gt = batch["plate_corners"].to(self.device)
        mode = self.cfg["joint"]["corners"]
        use_pred = mode == "pred" or (mode == "auto" and self.switched)
        if not use_pred or not len(gt):
            return gt
        b, _, h, w = logits.shape
        conf = logits[:, :4].detach().float().sigmoid().mean(1).flatten(1)         # B×hw
        plate = batch["plate"].to(self.device).flatten(1)
        pos = batch["mask"].to(self.device).flatten(1) == 1
        owner, pid = batch["plate_owner"].to(self.device), batch["plate_id"].to(self.device)
        sel = (plate[owner] == pid[:, None]) & pos[owner]                          # N×hw
        cell = torch.where(sel, conf[owner], torch.full_like(conf[owner], -1.0)).argmax(1)
        t = logits[:, 4:].float().flatten(2)[owner, :, cell]                       # N×8
        centres = torch.as_tensor(geometry.cell_centres(h, w), device=self.device).view(-1, 2)[cell]
        pred = geometry.decode_offsets(t, centres, self.det_cfg.z)
        min_g = self.cfg["joint"]["pred_min_gauss"]
        if min_g > 0:
            g = gaussian_scores(pred.detach(), gt, plate_sigma(gt, self.det_cfg.sigma_ratio, self.det_cfg.sigma_min)).mean(-1)
            pred = torch.where((g >= min_g)[:, None, None], pred, gt)
        return torch.where(sel.any(1)[:, None, None], pred, gt)

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimiser step; the loss terms come back as detached device tensors (no host sync
        per step: they are summed on the device and read at log time)."""
        dev = self.device
        terms: dict[str, torch.Tensor] = {}
        with torch.autocast(dev.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            if self.stage == "rec":
                x = TD.to_input(batch["images"], dev)
                loss = ctc_loss(self.fwd_rs(x), batch["labels"], batch["label_lengths"])
                terms["ctc"] = loss.detach()
            else:
                x = TD.to_input(batch["images"], dev, self.channels_last)
                tg = {k: batch[k].to(dev, non_blocking=True) for k in ("mask", "corners", "offsets", "weight")}
                logits = self.fwd_ds(x)
                loss, terms, extras = detection_loss(logits, tg, self.det_cfg)
                j = self.cfg["joint"]
                if (self.stage == "joint" and len(batch["label_lengths"])
                        and (self.switched or j["rec_before_switch"] or j["corners"] == "gt")):
                    corners = self.rec_corners(batch, logits, extras)
                    crops = geometry.warp_plates_torch(x.float(), corners, batch["plate_owner"].to(dev))
                    rl = ctc_loss(self.fwd_rs(crops), batch["labels"], batch["label_lengths"])
                    loss = loss + j["rec_weight"] * rl
                    terms["ctc"] = rl.detach()
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg["optim"]["grad_clip"]:
            self.scaler.unscale_(self.opt)
            params = [p for n in self.train_nets for p in n.parameters()]
            terms["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, self.cfg["optim"]["grad_clip"])
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        terms["loss"] = loss.detach()
        return terms

    # ------------------------------------------------------------ validation
    def validate(self) -> dict:
        c = self.cfg
        vf = c["data"]["val_fraction"]
        m: dict = {}
        try:
            if self.stage == "rec":
                allc = []
                for spec in TD.for_stage(c["data"]["val"], "rec"):
                    items = TD.val_crops(spec, vf)
                    for k, v in V.crop_metrics(self.rsnet, items, self.device).items():
                        m[f"val/{spec['type']}/{k}"] = v
                    allc += items
                for k, v in V.crop_metrics(self.rsnet, allc, self.device).items():
                    m[f"val/all_crops/{k}"] = v
            else:
                scenes = [s for spec in TD.for_stage(c["data"]["val"], self.stage) for s in TD.val_scenes(spec, c["det_size"], vf)]
                g = V.mean_gauss(self.dsnet, scenes, c["det_size"], self.device, self.tgt_cfg,
                                 self.det_cfg.sigma_ratio, self.det_cfg.sigma_min)
                m["val/mean_gauss"] = g["mean_gauss"]
                m["val/switch_ready"] = g["mean_gauss"] >= c["joint"]["switch_threshold"]
                e2e = V.end_to_end(self.dsnet, self.rsnet, V.as_samples(scenes, "val"), str(self.device),
                                   c["det_size"], c["val"]["det_threshold"])
                m.update({f"val/{k}": v for k, v in e2e.items()})
        finally:
            for n in self.train_nets:
                n.train()
        return m

    def _joint_nets(self) -> list:
        """The nets the joint stage updates (joint.train). A net left out is frozen (eval mode, no
        parameter gradients) but still passes gradients: with RSNet frozen, L_rec teaches DSNet
        corners that the shipped reader reads well, without RSNet forgetting data the joint
        batches lack (the real crops)."""
        names = list(self.cfg["joint"]["train"])
        if not names or set(names) - {"dsnet", "rsnet"}:
            raise SystemExit(f"joint.train must name dsnet and/or rsnet, got {names!r}")
        for name in ("dsnet", "rsnet"):
            if name not in names:
                net = getattr(self, name)
                net.eval()
                net.requires_grad_(False)
        return [getattr(self, name) for name in ("dsnet", "rsnet") if name in names]

    def after_val(self, m: dict, log) -> None:
        key = self.cfg["val"]["select"] or SELECT[self.stage]
        score = m.get(key)
        score = -math.inf if score is None else float(score)
        if self.stage == "joint" and not self.switched and m.get("val/switch_ready"):
            self.switched = True
            log({"kind": "event", "step": self.step, "event": "switch to predicted corners", "mean_gauss": m["val/mean_gauss"]})
        if score > self.best:
            self.best = score
            self.save_best(m)
            m["best"] = True
        self.last_val = m

    # ------------------------------------------------------------ the loop
    def fit(self, max_minutes: float | None = None) -> dict:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        c = self.cfg
        console = Console(stderr=True)
        logf = open(self.out / "metrics.jsonl", "a", encoding="utf-8")

        def log(rec: dict) -> None:
            logf.write(json.dumps(rec, ensure_ascii=False) + "\n")
            logf.flush()

        stop = {"flag": False}

        def on_signal(signum, _frame):
            stop["flag"] = True
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        for n in self.train_nets:
            n.train()
        t_start, t_log, s_log = time.time(), time.time(), self.step
        elapsed0 = self.elapsed
        acc: dict[str, torch.Tensor] = {}
        n_acc = 0
        status = "finished"
        if self.step >= c["steps"]:
            status = "already complete"
        progress = Progress(TextColumn(f"[bold]{c['name']}[/] {self.stage}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                            console=console, transient=False, disable=not console.is_terminal)
        with progress:
            task = progress.add_task("train", total=c["steps"], completed=self.step, info="")
            for batch in (self.loader() if self.step < c["steps"] else []):
                terms = self.train_step(batch)
                self.step += 1
                self.elapsed = elapsed0 + time.time() - t_start
                for k, v in terms.items():
                    acc[k] = acc[k] + v if k in acc else v.float().clone()
                n_acc += 1
                if self.step % c["log_every"] == 0 or self.step == c["steps"]:
                    now = time.time()
                    rec = {"kind": "train", "step": self.step, "lr": self.sched.get_last_lr()[0],
                           "steps_per_s": round((self.step - s_log) / max(now - t_log, 1e-9), 3),
                           "time_s": round(self.elapsed, 1), **{k: round(float(v) / n_acc, 5) for k, v in acc.items()}}
                    log(rec)
                    info = f"loss {rec['loss']:.4f} · {rec['steps_per_s']:.2f} it/s"
                    progress.update(task, completed=self.step, info=info)
                    if not console.is_terminal:
                        console.print(f"step {self.step}/{c['steps']} {info}", highlight=False)
                    acc, n_acc, t_log, s_log = {}, 0, now, self.step
                if self.step % c["val_every"] == 0 or self.step == c["steps"]:
                    m = self.validate()
                    self.after_val(m, log)
                    log({"kind": "val", "step": self.step, "time_s": round(self.elapsed, 1), **m})
                    console.print(f"val @ {self.step}: " + ", ".join(
                        f"{k[4:]}={v}" for k, v in m.items() if k.startswith("val/") and not isinstance(v, dict)), highlight=False)
                if self.step % c["ckpt_every"] == 0 or self.step == c["steps"]:
                    self.save()
                timed_out = max_minutes is not None and (time.time() - t_start) / 60 >= max_minutes
                if stop["flag"] or timed_out:
                    status = "interrupted" if stop["flag"] else "time limit"
                    self.save()
                    break
        for s, h in old.items():
            signal.signal(s, h)
        log({"kind": "end", "step": self.step, "status": status, "time_s": round(self.elapsed, 1)})
        logf.close()
        console.print(f"{status} at step {self.step}; checkpoint {self.out / 'last.pt'}"
                      + (f", best {self.out / 'best.pt'} ({self.best:.4f})" if (self.out / "best.pt").exists() else ""))
        return {"step": self.step, "status": status, "best": self.best, "last_val": self.last_val}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: the config's)")
    ap.add_argument("--out", help="run folder (default runs/<config name>)")
    ap.add_argument("--max-minutes", type=float, help="stop cleanly (with a checkpoint) after this long")
    ap.add_argument("--steps", type=int, help="override the config's total steps")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted)")
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.set + ([f"steps={a.steps}"] if a.steps else []))
    out = Path(a.out or Path("runs") / cfg["name"])
    if (out / "last.pt").exists() and not a.resume:
        raise SystemExit(f"{out} already holds a run: pass --resume to continue it or --out for a new one")
    Trainer(cfg, out, a.device, a.resume).fit(a.max_minutes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
