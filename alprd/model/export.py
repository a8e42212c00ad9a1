"""ONNX export of DSNet and RSNet (dynamic batch) for the ONNX Runtime backend and `alprd export`.

Two forms of each net:
- ``float``: N×3×H×W float input, normalised to [-1, 1] (the training form; `alprd export` and the
  backends' ``detect``/``read`` with float tensors).
- ``u8``: N×H×W×3 uint8 BGR input, as frames come out of the letterbox and the plate warp. The cast,
  the scale to [-1, 1] and the NHWC→NCHW transpose run inside the graph, so the serving path never
  builds a float copy of a batch in numpy.

The exported graphs compute exactly what the PyTorch modules compute (the tests compare them), but
they are traced from *serving twins* of the nets, built at export time from the same state_dict:
- every shape except the batch is a constant (the tracer otherwise records a Shape→Gather→Unsqueeze
  →Concat chain for every reshape of a channel shuffle or a GC block: ~300 tiny nodes);
- DSNet's stem is re-laid with BatchNorm folded and its 24- and 12-channel tensors zero-padded to
  multiples of 16 channels. ONNX Runtime's CPU kernels work in a blocked layout of 16 channels
  (NCHWc); a tensor whose channel count is not a multiple of that is converted back and forth
  around every node, and at 256×256 those conversions, plus a max-pool that then runs in the slow
  plain layout, cost as much as the stem's convolutions. Padded channels carry zero weights, so
  they stay zero and never reach a real output.

The files are derived artefacts, written under a cache key made of the parameters' hash, so a
change of weights re-exports instead of silently serving stale nets.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import types
import warnings
from pathlib import Path

import torch
from torch import nn

from alprd.model import blocks
from alprd.model.dsnet import DSNet
from alprd.model.rsnet import INPUT_SIZE, RSNet

log = logging.getLogger(__name__)
OPSET = 17
EXPORT_VERSION = 2          # bump when the serving twins change: a new cache key, a fresh export
BLOCK = 16                  # channel block of ONNX Runtime's NCHWc CPU kernels (AVX-512; AVX2 uses 8)
FORMS = ("float", "u8")


def export_onnx(dsnet: DSNet, rsnet: RSNet, out_dir: str | Path, det_size: int = 512,
                forms: tuple[str, ...] = FORMS) -> tuple[Path, ...]:
    """Write dsnet.onnx / rsnet.onnx (float) and dsnet_u8.onnx / rsnet_u8.onnx (uint8) as asked."""
    paths = []
    for form in forms:
        paths.append(export_net("dsnet", dsnet, out_dir, det_size, form))
        paths.append(export_net("rsnet", rsnet, out_dir, det_size, form))
    return tuple(paths)


def onnx_name(net: str, form: str, view: tuple[int, int] | None = None) -> str:
    """File name of a net's graph; DSNet graphs for a view other than the square one (see
    geometry.view_shape) carry its height×width."""
    base = net if form == "float" else f"{net}_{form}"
    return f"{base}_{view[0]}x{view[1]}.onnx" if view else f"{base}.onnx"


def export_net(which: str, net: nn.Module, out_dir: str | Path, det_size: int, form: str,
               view: tuple[int, int] | None = None) -> Path:
    """One net's graph; `view` (height, width) is DSNet's input when not det_size square (the
    serving twin's shapes are constants: one graph per view shape)."""
    if form not in FORMS:
        raise ValueError(f"unknown export form {form!r}")
    view = tuple(view) if view and which == "dsnet" else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / onnx_name(which, form, view)
    w, h = INPUT_SIZE
    size = (view or (det_size, det_size)) if which == "dsnet" else (h, w)
    twin = serving_twin(net)
    iname, oname = ("images", "maps") if which == "dsnet" else ("plates", "logits")
    if form == "u8":
        twin, example = U8Input(twin), torch.zeros(1, *size, 3, dtype=torch.uint8)
    else:
        example = torch.zeros(1, 3, *size)
    _export(twin, example, path, {iname: {0: "batch"}, oname: {0: "batch"}}, iname, oname)
    return path


def _export(net, example, path: Path, axes: dict, iname: str, oname: str) -> None:
    tmp = path.with_suffix(f".tmp{id(path)}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tracer notes about the shapes made constant on purpose
        torch.onnx.export(net, (example,), str(tmp), input_names=[iname], output_names=[oname],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    tmp.replace(path)   # atomic: a concurrent reader never sees half a file


def weights_key(dsnet: DSNet, rsnet: RSNet, det_size: int) -> str:
    """Hash of the parameters themselves, so a cached export always matches the nets in hand."""
    h = hashlib.sha256(f"v{EXPORT_VERSION}-opset{OPSET}-det{det_size}-torch{torch.__version__}".encode())
    for net in (dsnet, rsnet):
        for name, t in net.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Serving twins: the same functions, written for a clean static graph


class U8Input(nn.Module):
    """N×H×W×3 uint8 BGR → the net's N×3×H×W float input in [-1, 1] (geometry.normalize)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float()    # transpose the uint8 tensor: a quarter of the bytes
        return self.net(x.div(127.5).sub(1.0))


def serving_twin(net: nn.Module) -> nn.Module:
    """A deep copy of `net` in eval mode whose forwards trace to a static-shaped graph; DSNet's
    stem is replaced by a channel-padded, BN-folded equivalent. Same outputs as `net`."""
    twin = copy.deepcopy(net).eval()
    for m in twin.modules():
        if isinstance(m, blocks.ShuffleUnit):
            m.forward = types.MethodType(_shuffle_unit_forward, m)
        elif isinstance(m, blocks.ShuffleDown):
            m.forward = types.MethodType(_shuffle_down_forward, m)
        elif isinstance(m, blocks.GCBlock):
            m.forward = types.MethodType(_gc_forward, m)
    if isinstance(twin, DSNet):
        twin.stem = PaddedStem(twin.stem)
    return twin


def _dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)   # int(): a constant in the traced graph


def _static_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    _, c, h, w = _dims(x)
    return x.reshape(-1, groups, c // groups, h, w).transpose(1, 2).reshape(-1, c, h, w)


def _shuffle_unit_forward(self, x: torch.Tensor) -> torch.Tensor:
    half = _dims(x)[1] // 2
    return _static_shuffle(torch.cat((x[:, :half], self.branch(x[:, half:])), dim=1))


def _shuffle_down_forward(self, x: torch.Tensor) -> torch.Tensor:
    return _static_shuffle(torch.cat((self.left(x), self.right(x)), dim=1))


def _gc_forward(self, x: torch.Tensor) -> torch.Tensor:
    _, c, h, w = _dims(x)
    weights = torch.softmax(self.attn(x).reshape(-1, 1, h * w), dim=-1)
    context = torch.matmul(x.reshape(-1, c, h * w), weights.transpose(1, 2))
    return x + self.transform(context.reshape(-1, c, 1, 1))


def _round_up(n: int, block: int = BLOCK) -> int:
    return -(-n // block) * block


def fold_bn(seq: nn.Sequential) -> tuple[nn.Conv2d, bool]:
    """conv_bn_relu's (Conv2d, BatchNorm2d[, ReLU]) → one Conv2d with bias, and whether a ReLU follows."""
    conv, bn = seq[0], seq[1]
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d), "not a conv_bn_relu block"
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      groups=conv.groups, bias=True)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused, len(seq) > 2 and isinstance(seq[2], nn.ReLU)


def padded_conv(seq: nn.Sequential, in_pos: list[int], in_phys: int, out_phys: int) -> nn.Sequential:
    """A conv_bn_relu block as one dense conv reading `in_phys` physical input channels (the real
    channel i at position in_pos[i], the others zero) and writing its real outputs to the first
    positions of `out_phys` channels; the padding outputs have zero weight and bias."""
    conv, relu = fold_bn(seq)
    assert conv.groups == 1, "padded_conv handles dense convolutions only"
    padded = nn.Conv2d(in_phys, out_phys, conv.kernel_size, conv.stride, conv.padding, bias=True)
    with torch.no_grad():
        padded.weight.zero_()
        padded.bias.zero_()
        padded.weight[:conv.out_channels, in_pos] = conv.weight
        padded.bias[:conv.out_channels] = conv.bias
    return nn.Sequential(padded, nn.ReLU()) if relu else nn.Sequential(padded)


class PaddedStem(nn.Module):
    """StemBlock with every tensor padded to a multiple of BLOCK channels (see the module doc)."""

    def __init__(self, stem: blocks.StemBlock):
        super().__init__()
        c = stem.conv1[0].out_channels
        mid = stem.branch_conv[0][0].out_channels
        pc, pm = _round_up(c), _round_up(mid)
        cin = stem.conv1[0].in_channels
        self.conv1 = padded_conv(stem.conv1, list(range(cin)), cin, pc)
        self.branch_conv = nn.Sequential(
            padded_conv(stem.branch_conv[0], list(range(c)), pc, pm),
            padded_conv(stem.branch_conv[1], list(range(mid)), pm, pc),
        )
        self.branch_pool = copy.deepcopy(stem.branch_pool)
        # the fuse conv reads cat(branch_conv, pool): real channels at [0, c) and [pc, pc + c);
        # its output keeps the real width, the one the next stage expects
        fuse_out = stem.fuse[0].out_channels
        self.fuse = padded_conv(stem.fuse, list(range(c)) + list(range(pc, pc + c)), 2 * pc, fuse_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.fuse(torch.cat((self.branch_conv(x), self.branch_pool(x)), dim=1))
