"""Loading and saving the cascade's weights without arbitrary code execution.

One file holds both nets: {"dsnet": state_dict, "rsnet": state_dict, "meta": {...}}, loaded with
torch.load(weights_only=True), which refuses pickles that carry code.
"""
from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import torch

from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet

log = logging.getLogger(__name__)

DEFAULT_NAME = "slpnet.pt"


class WeightsError(Exception):
    """The weights file is missing, unsafe or does not match the architecture."""


def default_weights_path() -> Path:
    return Path(str(resources.files("alprd.model").joinpath("weights", DEFAULT_NAME)))


def _refusal(exc: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, without quoting torch's advice to retry
    with weights_only=False: that is the unsafe load this refusal protects against."""
    detail = next((ln.strip() for ln in str(exc).splitlines()
                   if ln.strip().startswith(("Unsupported global", "Unsupported operand"))), "")
    return ("it is not a PyTorch checkpoint of plain tensors, or it holds Python objects that could "
            "run code when loaded, which alprd refuses" + (f" ({detail[:160]})" if detail else ""))


def load_checkpoint(path: str | Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: weights file not found") from None
    except Exception as exc:  # the unpickler's refusal of code objects lands here
        raise WeightsError(f"{path}: not a safe alprd weights file: {_refusal(exc)}") from None
    if not isinstance(ckpt, dict) or "dsnet" not in ckpt or "rsnet" not in ckpt:
        raise WeightsError(f"{path}: expected a dict with 'dsnet' and 'rsnet' state dicts")
    return ckpt


def build_models(weights: str | Path | None = None) -> tuple[DSNet, RSNet, dict]:
    """The two nets in eval mode, with shipped or given weights; meta["trained"] says which.

    With no file at all (a fresh checkout before training) the nets are random: the pipeline
    runs end to end but reads nothing, and the caller is told so through meta."""
    dsnet, rsnet = DSNet(), RSNet()
    path = Path(weights) if weights else default_weights_path()
    if weights is None and not path.exists():
        log.info("no trained weights shipped at %s: using random weights (nothing will be read)", path)
        meta = {"trained": False, "path": None}
    else:
        ckpt = load_checkpoint(path)
        try:
            dsnet.load_state_dict(ckpt["dsnet"])
            rsnet.load_state_dict(ckpt["rsnet"])
        except RuntimeError as exc:
            raise WeightsError(f"{path}: weights do not fit this architecture: {str(exc)[:300]}") from None
        meta = {"trained": True, **dict(ckpt.get("meta") or {}), "path": str(path)}
    return dsnet.eval(), rsnet.eval(), meta


def save_weights(path: str | Path, dsnet: DSNet, rsnet: RSNet, meta: dict | None = None) -> None:
    torch.save({"dsnet": dsnet.state_dict(), "rsnet": rsnet.state_dict(), "meta": dict(meta or {})}, path)
