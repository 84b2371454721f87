"""Export torchvision classification models to ONNX with either exporter, cached on disk.

Weights are random (weights=None: nothing can be downloaded here). Biases that start at
zero and batch-norm affine parameters are drawn at random, and the running statistics
measured in eval mode on random images, layer by layer, so that activations stay of order
one through the whole network, channel-masked too (an equivalence check on outputs of
1e-14, or of exactly 0, proves nothing: `halp_graph.equivalence` reports it as vacuous),
and no two folded biases are equal by accident. `bn="default"` keeps torchvision's initial
statistics (and zero biases) instead, which is what makes the legacy exporter share
identical bias initializers through Identity nodes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass

EXPORTERS = ("legacy", "dynamo")
RECIPE = 4  # bump when build_module changes what a zoo export contains (part of the cache key)

# Smallest input each family accepts, used when tests ask for "small" models.
SMALL_RESOLUTION = {"inception_v3": 96, "googlenet": 64, "maxvit_t": 224, "vit": 64, "swin": 64,
                    "squeezenet": 64, "alexnet": 64, "efficientnet": 64}
# Models whose constructor takes an image size (ViT's position embedding depends on it).
IMAGE_SIZE_KWARG = ("vit_",)
TOO_BIG = ("vit_h_14", "regnet_y_128gf")  # > 2 GB of weights: external-data tests only


@dataclass(frozen=True)
class ZooEntry:
    name: str
    exporter: str = "legacy"
    resolution: int = 224
    dynamic_batch: bool = False
    bn: str = "calibrated"
    opset: int | None = None
    seed: int = 0

    @property
    def opset_version(self) -> int:
        return self.opset or (17 if self.exporter == "legacy" else 18)

    def filename(self) -> str:
        batch = "N" if self.dynamic_batch else "1"
        return (f"{self.name.replace(':', '-')}_{self.exporter}_r{self.resolution}_b{batch}_{self.bn}"
                f"_op{self.opset_version}_s{self.seed}_v{RECIPE}.onnx")


# A timm model per family, CNNs and hybrids that export with both exporters at 224.
TIMM_MODELS = [
    "resnet50d", "resnetv2_50", "efficientnet_b0", "mobilenetv3_large_100", "regnety_016",
    "convnext_nano", "vit_tiny_patch16_224", "deit_tiny_patch16_224", "swin_tiny_patch4_window7_224",
    "cspresnet50", "dla34", "dpn68", "ghostnet_100", "hrnet_w18_small", "inception_resnet_v2",
    "mixnet_s", "mnasnet_100", "nf_resnet26", "rexnet_100", "selecsls42b", "tresnet_m", "vgg11",
    "xception41", "res2net50_26w_4s", "resnest14d", "skresnet18", "levit_128s", "mobilevit_xs",
    "efficientformer_l1", "poolformer_s12", "coatnet_0_rw_224", "edgenext_x_small", "fastvit_t8",
    "repvit_m1", "densenet121", "lcnet_050", "hardcorenas_a", "tinynet_a", "mobileone_s0",
    "convmixer_768_32", "gernet_s", "cait_xxs24_224", "pit_ti_224", "twins_svt_small",
    "xcit_nano_12_p16_224", "beit_base_patch16_224", "focalnet_tiny_srf", "efficientvit_b0",
    "ghostnetv2_100", "fbnetv3_b", "hgnetv2_b0", "mambaout_femto", "starnet_s1",
    "inception_next_tiny", "nextvit_small", "rdnet_tiny", "mobilenetv4_conv_small",
]


def classification_models() -> list[str]:
    from halp_graph.torchvision_compat import import_torchvision
    tv = import_torchvision()
    return sorted(tv.models.list_models(module=tv.models))


def small_resolution(name: str) -> int:
    for prefix, res in SMALL_RESOLUTION.items():
        if name.startswith(prefix):
            return res
    return 64


def cache_dir() -> str:
    root = os.environ.get("HALP_GRAPH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "halp_graph")
    import torch
    path = os.path.join(root, "zoo", f"torch-{torch.__version__}")
    os.makedirs(path, exist_ok=True)
    return path


def build_module(name: str, resolution: int = 224, bn: str = "calibrated", seed: int = 0):
    """The model in eval mode, with calibrated (or default) BN statistics. Names are
    torchvision's, or "timm:<name>" for a timm model (random weights either way)."""
    import torch
    from halp_graph.torchvision_compat import import_torchvision
    tv = import_torchvision()
    torch.manual_seed(seed)
    if name.startswith("timm:"):
        import timm
        model = timm.create_model(name[5:], pretrained=False)
    else:
        kwargs = {"weights": None}
        if name.startswith(IMAGE_SIZE_KWARG):
            kwargs["image_size"] = resolution
        if name in ("googlenet", "inception_v3"):
            kwargs["aux_logits"] = False
            kwargs["init_weights"] = True
        model = tv.models.get_model(name, **kwargs)
    _reinit_zero_weights(model, seed)
    if bn == "calibrated":
        _randomize_zero_biases(model, seed)
        calibrate_batchnorm(model, resolution, seed)
        scale_logits(model, resolution, seed)
    return model.eval()


def _reinit_zero_weights(model, seed: int) -> None:
    """Some heads start at zero (torchvision's ViT), which makes every output 0, and
    ConvNeXt's layer scales start at 1e-6, which hides its blocks from any output check."""
    import torch
    gen = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and not m.weight.any():
                m.weight.copy_(0.02 * torch.randn(m.weight.shape, generator=gen))
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(0.1 + 0.4 * torch.rand(p.shape, generator=gen))


def _randomize_zero_biases(model, seed: int) -> None:
    """Biases that start at zero (most torchvision and timm layers) get small random values:
    with them a masked model whose plan silences a layer (one channel kept, dead after the
    ReLU) outputs exactly 0 from there on, and a check on all-zero outputs proves nothing.
    BatchNorm biases are drawn by calibrate_batchnorm."""
    import torch
    gen = torch.Generator().manual_seed(seed + 4)
    with torch.no_grad():
        for m in model.modules():
            bias = getattr(m, "bias", None)
            if (isinstance(bias, torch.nn.Parameter) and not bias.any()
                    and not isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
                bias.copy_(0.1 * torch.randn(bias.shape, generator=gen))


def scale_logits(model, resolution: int, seed: int = 0) -> None:
    """Scale the last layer so logits have unit spread on random images: an error of 1e-6
    then means the same on every model."""
    import torch
    last = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))][-1]
    gen = torch.Generator().manual_seed(seed + 3)
    model.eval()
    with torch.no_grad():
        std = float(model(torch.randn(4, 3, resolution, resolution, generator=gen)).std())
        if std > 0 and abs(std - 1) > 1e-3:
            last.weight.div_(std)
            if last.bias is not None:
                last.bias.div_(std)


def calibrate_batchnorm(model, resolution: int, seed: int = 0, batch: int = 8) -> None:
    """Random affine parameters, then running statistics from one eval-mode pass on random
    images: each BN takes the mean and variance of the input it sees in the network as it
    will run, upstream BNs already calibrated. Train-mode statistics do not match eval mode
    (stochastic depth and dropout are on there); in EfficientNet-B0 the mismatch compounds
    to activations of 1e4, so that once the logits are rescaled to unit spread a masked
    model's outputs are 1e-3, and far less in the deeper EfficientNets."""
    import torch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in bns:
            if m.affine:
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
    seen: set[int] = set()
    hooks = [m.register_forward_pre_hook(lambda mod, args: _take_statistics(mod, args[0], seen))
             for m in bns if m.track_running_stats]
    model.eval()
    try:
        with torch.no_grad():
            model(torch.randn(batch, 3, resolution, resolution, generator=gen))
    finally:
        for h in hooks:
            h.remove()


def _take_statistics(bn, x, seen: set[int]) -> None:
    """Set a BN's running statistics from its input, on its first call only (a BN module
    called twice keeps the statistics its first use was normalized with)."""
    if id(bn) in seen:
        return
    seen.add(id(bn))
    dims = [0, *range(2, x.dim())]
    var = x.var(dim=dims, unbiased=False)
    # A channel that happens to be constant on the calibration batch would be divided by
    # sqrt(eps) on any other input: floor its variance at a small share of the layer's.
    var = var.clamp_min(1e-3 * float(var.mean()) + 1e-12)
    bn.running_mean.copy_(x.mean(dim=dims))
    bn.running_var.copy_(var)
    bn.num_batches_tracked.fill_(1)


def export(name: str, exporter: str = "legacy", resolution: int | None = None,
           dynamic_batch: bool = False, bn: str = "calibrated", opset: int | None = None,
           seed: int = 0, cache: bool = True) -> str:
    """Path of the exported ONNX file, exporting it on first use."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, not {exporter!r}")
    entry = ZooEntry(name, exporter, resolution or 224, dynamic_batch, bn, opset, seed)
    path = os.path.join(cache_dir(), entry.filename())
    if cache and os.path.exists(path):
        return path
    module = build_module(name, entry.resolution, bn, seed)
    _export_module(module, entry, path)
    return path


def _export_module(module, entry: ZooEntry, path: str) -> None:
    import torch
    x = torch.randn(1 if not entry.dynamic_batch else 2, 3, entry.resolution, entry.resolution)
    tmpdir = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".export.")
    tmp = os.path.join(tmpdir, os.path.basename(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if entry.exporter == "legacy":
                kwargs = {}
                if entry.dynamic_batch:
                    kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
                torch.onnx.export(module, (x,), tmp, dynamo=False, opset_version=entry.opset_version,
                                  input_names=["input"], output_names=["logits"], **kwargs)
            else:
                kwargs = {}
                if entry.dynamic_batch:
                    kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=1024)},)
                program = torch.onnx.export(module, (x,), dynamo=True, opset_version=entry.opset_version,
                                            input_names=["input"], output_names=["logits"], verbose=False,
                                            **kwargs)
                program.save(tmp)
        if len(os.listdir(tmpdir)) == 1:
            os.replace(tmp, path)
        else:  # over 2 GB: the exporter wrote external data, perhaps a file per tensor
            import onnx
            from halp_graph.onnx_io import save_model
            save_model(onnx.load(tmp), path, external=True, force=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
