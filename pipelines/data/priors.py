"""Label statistics of CCPD, to sample synthetic plates and scenes from.

Built once from the 91,979 CCPD2019 file names in ccpd/detectRecog_CCPD_split_lists/*.txt.gz
(names only, no images; the blur/db/fn/rotate/tilt subsets, so geometry is harder than CCPD-base)
and cached as ccpd_priors.json beside this module (a few KB, committed). Distributions are kept
as quantile tables (inverse CDF, sampled by interpolation), plus a sample of normalised plate
quadrilaterals for realistic perspective shapes and the character frequencies.

Rebuild: ``python -m pipelines.data.priors [path/to/split_lists]``.
"""
from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from alprd.model.charset import LETTERS, REGION_CHARS
from pipelines.data.ccpd import CCPD_SIZE, parse_ccpd_name

PRIORS_PATH = Path(__file__).with_name("ccpd_priors.json")
N_QUANTILES = 32
N_QUADS = 64

_KEYS = ("plate_w", "plate_h", "aspect", "cx", "cy", "roll_deg", "tilt_h", "tilt_v", "brightness", "blur")


def _quad_measures(c: np.ndarray) -> dict[str, float]:
    tl, tr, br, bl = c
    top, bottom = tr - tl, br - bl
    w = (np.linalg.norm(top) + np.linalg.norm(bottom)) / 2
    h = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    edge = top + bottom
    return {
        "plate_w": w / CCPD_SIZE[0], "plate_h": h / CCPD_SIZE[1], "aspect": w / max(h, 1.0),
        "cx": float(c[:, 0].mean()) / CCPD_SIZE[0], "cy": float(c[:, 1].mean()) / CCPD_SIZE[1],
        "roll_deg": float(np.degrees(np.arctan2(edge[1], edge[0]))),
    }


def build_priors(list_dir: str | Path, seed: int = 0) -> dict:
    """Scan the gzipped name lists and summarise them (JSON-able dict)."""
    files = sorted(Path(list_dir).glob("*.txt.gz"))
    if not files:
        raise FileNotFoundError(f"no *.txt.gz CCPD name lists in {list_dir}")
    names: list[str] = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            names.extend(line.strip() for line in fh if line.strip())
    vals: dict[str, list[float]] = {k: [] for k in _KEYS}
    quads, province, second, rest = [], Counter(), Counter(), Counter()
    pos_letters = np.zeros(5)
    n_ok = 0
    for n in names:
        try:
            lab = parse_ccpd_name(n)
        except ValueError:
            continue
        n_ok += 1
        for k, v in _quad_measures(lab.corners).items():
            vals[k].append(v)
        vals["tilt_h"].append(lab.tilt[0])
        vals["tilt_v"].append(lab.tilt[1])
        vals["brightness"].append(lab.brightness)
        vals["blur"].append(lab.blur)
        province[lab.text[0]] += 1
        second[lab.text[1]] += 1
        rest.update(lab.text[2:])
        pos_letters += [c in LETTERS for c in lab.text[2:7]]
        quads.append(lab.corners)
    qs = np.linspace(0, 1, N_QUANTILES + 1)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(quads), size=min(N_QUADS, len(quads)), replace=False)
    norm_quads = []
    for i in sorted(pick):
        c = quads[i]
        w = _quad_measures(c)["plate_w"] * CCPD_SIZE[0]
        norm_quads.append(np.round((c - c.mean(axis=0)).astype(np.float64) / w, 3).tolist())
    return {
        "source": "CCPD2019 file names, detectRecog/CCPD split/ccpd_{blur,db,fn,rotate,tilt}.txt",
        "n": n_ok,
        "image_size": list(CCPD_SIZE),
        "note": "plate_w/cx are relative to image width (720), plate_h/cy to height (1160); "
                "aspect = plate width/height in pixels; quads are corners TL,TR,BR,BL minus their "
                "centre, divided by the plate width",
        "quantile_levels": N_QUANTILES,
        "quantiles": {k: [round(float(x), 4) for x in np.quantile(np.asarray(v, np.float64), qs)]
                      for k, v in vals.items()},
        "province": dict(province.most_common()),
        "second": dict(second.most_common()),
        "rest": dict(rest.most_common()),
        "pos_letter_prob": [round(float(x), 4) for x in pos_letters / max(n_ok, 1)],
        "quads": norm_quads,
    }


class Priors:
    """Sampling interface over the summary."""

    def __init__(self, summary: dict):
        self.summary = summary
        self._q = {k: np.asarray(v, np.float64) for k, v in summary["quantiles"].items()}
        self._levels = np.linspace(0, 1, summary["quantile_levels"] + 1)
        prov = summary["province"]
        self.provinces = tuple(REGION_CHARS)
        counts = np.array([prov.get(c, 0) for c in self.provinces], np.float64)
        self.province_p = counts / counts.sum()
        sec = summary["second"]
        counts = np.array([sec.get(c, 0) for c in LETTERS], np.float64) + 1.0
        self.second_p = counts / counts.sum()
        self.pos_letter_prob = np.asarray(summary["pos_letter_prob"], np.float64)
        self.quads = np.asarray(summary["quads"], np.float32)

    def sample(self, key: str, rng: np.random.Generator, size=None):
        """A draw from one quantity's distribution (linear inverse-CDF interpolation)."""
        return np.interp(rng.random(size), self._levels, self._q[key])

    def quantile(self, key: str, q: float) -> float:
        return float(np.interp(q, self._levels, self._q[key]))

    def province(self, rng: np.random.Generator, uniform_mix: float = 0.4) -> str:
        """A province character: CCPD's frequencies (mostly 皖) mixed with a uniform share so
        every province is well represented."""
        p = (1 - uniform_mix) * self.province_p + uniform_mix / len(self.provinces)
        return self.provinces[rng.choice(len(self.provinces), p=p)]

    def second_letter(self, rng: np.random.Generator, uniform_mix: float = 0.5) -> str:
        p = (1 - uniform_mix) * self.second_p + uniform_mix / len(LETTERS)
        return LETTERS[rng.choice(len(LETTERS), p=p)]

    def quad(self, rng: np.random.Generator) -> np.ndarray:
        """A real plate shape: 4×2 corners (TL,TR,BR,BL) about the origin, plate width ≈ 1."""
        return self.quads[rng.integers(len(self.quads))].copy()


@lru_cache(maxsize=1)
def load_priors(path: str | None = None) -> Priors:
    p = Path(path) if path else PRIORS_PATH
    if not p.is_file():
        raise FileNotFoundError(f"{p} is missing; rebuild it with `python -m pipelines.data.priors`")
    return Priors(json.loads(p.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        list_dir = Path(argv[0])
    else:
        from pipelines.data import data_root
        list_dir = data_root(required=True) / "ccpd" / "detectRecog_CCPD_split_lists"
    summary = build_priors(list_dir)
    PRIORS_PATH.write_text(json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n",
                           encoding="utf-8")
    print(f"wrote {PRIORS_PATH} ({PRIORS_PATH.stat().st_size} bytes) from {summary['n']} names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
