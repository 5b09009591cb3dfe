"""Build a backbone as a node extractor, with weights from local files or caches (never a download)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bergforge.features.errors import BackboneError, MissingPackageError, WeightsUnavailableError
from bergforge.features.hub_cache import open_clip_weights, timm_weights
from bergforge.features.image_paths import training_transform
from bergforge.features.registry import HUB_CACHE, LIBRARY_TRANSFORM, NO_WEIGHTS, BackboneSpec

_PIP_NAMES = {"open_clip": "open_clip_torch", "timm": "timm"}


@dataclass
class Backbone:
    """A ready extractor: ``module(batch)`` returns ``{node: tensor}`` for the spec's layers.

    ``transform`` is the training path (a PIL image → tensor, used by the features stage);
    ``inference_transform`` the torchvision preset that the loader applies to uint8 tensor
    batches, or None where only ``transform`` exists (open_clip/timm preprocessing).
    """

    spec: BackboneSpec
    module: nn.Module
    transform: Any
    weights_identity: dict[str, Any]
    inference_transform: Any = None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _import(library: str, spec: BackboneSpec):
    try:
        return __import__(library)
    except ImportError:
        raise MissingPackageError(
            f"backbone {spec.name!r} needs the {library} package, which is not installed; "
            f"install it with `pip install {_PIP_NAMES[library]}`"
        ) from None


def _is_file_reference(weights: str) -> bool:
    return "/" in weights or weights.endswith((".pth", ".pt", ".bin", ".safetensors"))


def _local_weights_file(spec: BackboneSpec) -> Path:
    path = Path(spec.weights)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"backbone {spec.name!r}: weights file {str(path)!r} not found; expected a local "
            f"state-dict file (bergforge never downloads weights), or `weights: {NO_WEIGHTS}`"
        )
    return path


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _torchvision_weights_file(spec: BackboneSpec) -> tuple[Path, str]:
    """The local file of a torchvision weights name, from the torch hub cache (no download)."""
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(spec.model)
        weights = enum[spec.weights] if spec.weights != "DEFAULT" else enum.DEFAULT
    except (KeyError, ValueError):
        raise BackboneError(
            f"backbone {spec.name!r}: weights {spec.weights!r} are not a torchvision weights name "
            f"of {spec.model!r}; expected `none`, a weights name or a local file"
        ) from None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        raise WeightsUnavailableError(
            f"backbone {spec.name!r}: pretrained weights {weights} are not available offline; "
            f"expected the file {cached} (torch hub cache). Put it there, set "
            f"backbones.{spec.name}.weights to a local file, or use `weights: {NO_WEIGHTS}`"
        )
    return cached, str(weights)


def check_nodes(spec: BackboneSpec, model: nn.Module) -> None:
    """Raise one error naming the first requested node that the model does not have."""
    from torchvision.models.feature_extraction import get_graph_node_names

    modules = {name for name, _ in model.named_modules()}
    missing = [n for n in spec.layers if n not in modules]
    if missing:
        _, nodes = get_graph_node_names(model)
        missing = [n for n in missing if n not in nodes]
    if missing:
        raise BackboneError(
            f"backbone {spec.name!r}: unknown node {missing[0]!r} in model {spec.model!r}; "
            "expected a module or graph-node name (see "
            "torchvision.models.feature_extraction.get_graph_node_names)"
        )


def _torchvision(spec: BackboneSpec) -> tuple[nn.Module, Any, dict[str, Any], Any]:
    from torchvision.models import get_model, get_weight, list_models

    if spec.model not in list_models():
        raise BackboneError(
            f"backbone {spec.name!r}: {spec.model!r} is not a torchvision model; "
            "expected a name from torchvision.models.list_models()"
        )
    if spec.weights == NO_WEIGHTS:
        identity: dict[str, Any] = {"kind": "random_init", "seed": spec.seed}
        path = None
    elif _is_file_reference(spec.weights):
        path = _local_weights_file(spec)
        identity = {"kind": "file", "file": path.name}
    else:
        path, label = _torchvision_weights_file(spec)
        identity = {"kind": "torchvision", "name": label, "file": path.name}
    torch.manual_seed(spec.seed)
    model = get_model(spec.model, weights=None)
    if path is not None:
        model.load_state_dict(_load_state_dict(path))
        identity["sha256"] = file_sha256(path)
    if spec.transform == LIBRARY_TRANSFORM:
        raise BackboneError(
            f"backbone {spec.name!r}: torchvision models need a transform named by a weights "
            "preset, e.g. 'AlexNet_Weights.IMAGENET1K_V1'"
        )
    try:
        preset = get_weight(spec.transform).transforms()
    except (ValueError, KeyError, AttributeError):
        raise BackboneError(
            f"backbone {spec.name!r}: unknown transform {spec.transform!r}; expected a torchvision "
            "weights name such as 'AlexNet_Weights.IMAGENET1K_V1'"
        ) from None
    return model, training_transform(spec, preset), identity, preset


def _library_weights(spec: BackboneSpec, cached: Path | None) -> tuple[Path, dict[str, Any]]:
    """A local weights file (``weights`` names one) or the hub-cache file found for the spec."""
    path = _local_weights_file(spec) if cached is None else cached
    kind = "file" if cached is None else "hf_cache"
    return path, {"kind": kind, "file": path.name, "sha256": file_sha256(path)}


def _open_clip(spec: BackboneSpec) -> tuple[nn.Module, Any, dict[str, Any], None]:
    """open_clip's image tower: ``weights`` is none, a local file or a pretrained tag (cache only)."""
    open_clip = _import("open_clip", spec)
    if spec.weights == NO_WEIGHTS:
        torch.manual_seed(spec.seed)
        model, _, preprocess = open_clip.create_model_and_transforms(spec.model, pretrained=None)
        return model.visual, preprocess, {"kind": "random_init", "seed": spec.seed}, None
    options: dict[str, Any] = {}
    cached = None
    if not _is_file_reference(spec.weights):
        cached, cfg = open_clip_weights(spec.model, spec.weights, spec.name)
        # the tag's own settings: QuickGELU (OpenAI weights) and its preprocessing
        options = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
        for key in ("mean", "std", "interpolation", "resize_mode"):
            if key in cfg:
                options[f"image_{key}"] = cfg[key]
    path, identity = _library_weights(spec, cached)
    if cached is not None:
        identity["tag"] = spec.weights
    model, _, preprocess = open_clip.create_model_and_transforms(
        spec.model, pretrained=str(path), **options
    )
    return model.visual, preprocess, identity, None


def _timm(spec: BackboneSpec) -> tuple[nn.Module, Any, dict[str, Any], None]:
    """A timm model: ``weights`` is none, a local file or ``cache`` (the hub cache only)."""
    timm = _import("timm", spec)
    size = {} if spec.image_size is None else {"img_size": int(spec.image_size)}
    if spec.weights == NO_WEIGHTS:
        torch.manual_seed(spec.seed)
        model = timm.create_model(spec.model, pretrained=False, **size)
        identity: dict[str, Any] = {"kind": "random_init", "seed": spec.seed}
    else:
        if spec.weights != HUB_CACHE and not _is_file_reference(spec.weights):
            raise BackboneError(
                f"backbone {spec.name!r}: weights {spec.weights!r}; expected a local file, "
                f"{HUB_CACHE!r} (the Hugging Face cache) or {NO_WEIGHTS!r}"
            )
        cached = timm_weights(spec.model, spec.name) if spec.weights == HUB_CACHE else None
        path, identity = _library_weights(spec, cached)
        # timm converts original checkpoints (e.g. Meta's DINOv2 files) with its own filters
        model = timm.create_model(
            spec.model, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **size
        )
    config = timm.data.resolve_data_config({}, model=model)
    if spec.image_size is not None:  # 256 → 224 at 224, bicubic (the HF DINOv2 processor's)
        config |= {
            "input_size": (3, int(spec.image_size), int(spec.image_size)),
            "crop_pct": 0.875,
            "interpolation": "bicubic",
        }
    return model, timm.data.create_transform(**config), identity, None


_BUILDERS = {"torchvision": _torchvision, "open_clip": _open_clip, "timm": _timm}


def build_backbone(spec: BackboneSpec, device: str = "cpu") -> Backbone:
    """The node extractor of ``spec`` in eval mode on ``device``, with its two transforms (training,
    inference) and weights id."""
    from torchvision.models.feature_extraction import create_feature_extractor

    model, transform, identity, preset = _BUILDERS[spec.library](spec)
    model.eval()
    check_nodes(spec, model)
    module = create_feature_extractor(model, return_nodes=list(spec.layers)).eval().to(device)
    return Backbone(spec, module, transform, identity, preset)


def resolve_device(device: str) -> str:
    """``cpu``/``cuda``/``auto`` → a torch device name; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BackboneError("features.device is 'cuda' but torch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise BackboneError(f"features.device {device!r}; expected cpu, cuda or auto")
    return device
