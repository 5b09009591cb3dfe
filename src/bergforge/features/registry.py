"""Backbone registry: which library model, weights, layers, transform and seed each name means.

Built-in entries follow BERG exactly (``research/berg.md`` §2b, §2d). The config's ``backbones``
section names the backbones to build; each entry may override any field of a built-in entry or,
with ``library`` and ``model``, define a new backbone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bergforge.features.errors import BackboneError, UnknownBackboneError

#: BERG's global seed; untrained backbones are built right after ``torch.manual_seed(BERG_SEED)``.
BERG_SEED = 20200220

ALEXNET_NODES: tuple[str, ...] = (
    "features.2",
    "features.5",
    "features.7",
    "features.9",
    "features.12",
    "classifier.2",
    "classifier.5",
    "classifier.6",
)
VIT_B_32_NODES: tuple[str, ...] = tuple(f"encoder.layers.encoder_layer_{i}" for i in range(12))
RESNET50_NODES: tuple[str, ...] = ("layer3", "layer4", "avgpool")

LIBRARIES = ("torchvision", "open_clip", "timm")
TOKEN_AGGREGATIONS = ("all", "cls", "mean")
#: ``weights`` value meaning "random init drawn right after ``torch.manual_seed(seed)``".
NO_WEIGHTS = "none"
#: timm ``weights`` value meaning "the model's pretrained weights from the Hugging Face cache".
HUB_CACHE = "cache"
#: ``transform`` value meaning "the preprocessing that the model library ships with the model".
LIBRARY_TRANSFORM = "library"
#: ``train_transform`` values: the features stage applies ``transform`` to the PIL image
#: (``preset``), or BERG's EEG ViT-B/32 trainer's CenterCrop(min side) → Resize((224, 224)) →
#: ToTensor → normalise, with the preset's crop size, mean and std (``center_crop_resize``).
PRESET_TRAIN = "preset"
CENTER_CROP_RESIZE = "center_crop_resize"
TRAIN_TRANSFORMS = (PRESET_TRAIN, CENTER_CROP_RESIZE)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and which of its layers (graph nodes) to read.

    ``weights`` is ``none`` (seeded random init), a local file, or pretrained weights read from a
    local cache only: torchvision ``IMAGENET1K_V1``/``DEFAULT`` (torch hub cache), an open_clip
    pretrained tag such as ``openai``, or ``cache`` for a timm model (Hugging Face cache).
    ``transform`` is a torchvision weights name whose preset is used (``AlexNet_Weights.IMAGENET1K_V1``)
    or ``library`` (open_clip/timm preprocessing). ``train_transform`` is what the features stage
    applies to each decoded PIL image (:data:`TRAIN_TRANSFORMS`); the loader always applies
    ``transform`` to the user's uint8 tensor, as BERG's API does (``bergforge.features.image_paths``).
    ``token_aggregation`` applies to token outputs ``[image, token, dim]``: ``all`` keeps every
    token, ``cls`` the first, ``mean`` their average. ``image_size`` (timm only) builds the model
    for that input size (timm resamples a ViT's position embeddings once, when the model is made)
    and its transform as Resize(image_size / 0.875, bicubic) → CenterCrop(image_size) → the
    model's normalisation (the Hugging Face DINOv2 processor's 256 → 224 at 224); None keeps the
    library's own.
    """

    name: str
    library: str
    model: str
    weights: str
    layers: tuple[str, ...]
    transform: str
    seed: int = BERG_SEED
    token_aggregation: str = "all"
    datasets: tuple[str, ...] | None = field(default=None)
    train_transform: str = PRESET_TRAIN
    image_size: int | None = None

    @property
    def nodes(self) -> tuple[str, ...]:
        """The graph nodes read (one stored array each); the same as ``layers``."""
        return self.layers

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description (recorded in every shard's attributes).

        ``train_transform`` is left out when it is the default ``preset`` and ``image_size`` when
        it is None, so specs recorded before they existed and specs of default backbones are the
        same dict (and the same bytes).
        """
        out = asdict(self)
        out["layers"] = list(self.layers)
        out["datasets"] = None if self.datasets is None else list(self.datasets)
        if self.train_transform == PRESET_TRAIN:
            del out["train_transform"]
        if self.image_size is None:
            del out["image_size"]
        return out


REGISTRY: dict[str, BackboneSpec] = {
    "alexnet_untrained": BackboneSpec(
        "alexnet_untrained",
        "torchvision",
        "alexnet",
        NO_WEIGHTS,
        ALEXNET_NODES,
        "AlexNet_Weights.IMAGENET1K_V1",
    ),
    "alexnet": BackboneSpec(
        "alexnet",
        "torchvision",
        "alexnet",
        "IMAGENET1K_V1",
        ALEXNET_NODES,
        "AlexNet_Weights.IMAGENET1K_V1",
    ),
    "vit_b_32": BackboneSpec(
        "vit_b_32",
        "torchvision",
        "vit_b_32",
        "IMAGENET1K_V1",
        VIT_B_32_NODES,
        "ViT_B_32_Weights.IMAGENET1K_V1",
    ),
    "resnet50": BackboneSpec(
        "resnet50",
        "torchvision",
        "resnet50",
        "IMAGENET1K_V1",
        RESNET50_NODES,
        "ResNet50_Weights.IMAGENET1K_V1",
    ),
    "clip_vit_b_32": BackboneSpec(
        "clip_vit_b_32",
        "open_clip",
        "ViT-B-32",
        "openai",
        ("transformer.resblocks.11",),
        LIBRARY_TRANSFORM,
        token_aggregation="cls",
    ),
    "dinov2_vits14": BackboneSpec(
        "dinov2_vits14",
        "timm",
        "vit_small_patch14_dinov2.lvd142m",
        HUB_CACHE,
        ("blocks.11",),
        LIBRARY_TRANSFORM,
        token_aggregation="cls",
    ),
    # the large towers of seed 004's comparison: the last block's cls token (1,024 values); the
    # hub-cache files are timm/vit_large_patch14_clip_224.openai and timm/vit_large_patch14_dinov2.lvd142m
    "clip_vit_l_14": BackboneSpec(
        "clip_vit_l_14",
        "open_clip",
        "ViT-L-14",
        "openai",
        ("transformer.resblocks.23",),
        LIBRARY_TRANSFORM,
        token_aggregation="cls",
    ),
    "dinov2_vitl14": BackboneSpec(
        "dinov2_vitl14",
        "timm",
        "vit_large_patch14_dinov2.lvd142m",
        HUB_CACHE,
        ("blocks.23",),
        LIBRARY_TRANSFORM,
        token_aggregation="cls",
    ),
    # the decoding task's target (research/decoding.md §1.5): DINOv2-giant, the output of block 26
    # of 40 (HF hidden_states[26] = timm blocks.25), mean over all 257 tokens (CLS included) of a
    # 224-px input; hub-cache file timm/vit_giant_patch14_dinov2.lvd142m (4.5 GB)
    "dinov2_giant": BackboneSpec(
        "dinov2_giant",
        "timm",
        "vit_giant_patch14_dinov2.lvd142m",
        HUB_CACHE,
        ("blocks.25",),
        LIBRARY_TRANSFORM,
        token_aggregation="mean",
        image_size=224,
    ),
}

_FIELDS = {
    "library",
    "model",
    "weights",
    "layers",
    "transform",
    "seed",
    "token_aggregation",
    "train_transform",
    "image_size",
}
#: the settings a config (or a recorded spec) may override
SPEC_SETTINGS = frozenset(_FIELDS)


def get_spec(name: str, overrides: dict[str, Any] | None = None) -> BackboneSpec:
    """The registry entry of ``name`` with ``overrides`` applied; unknown names list the known ones."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - _FIELDS - {"datasets"}
    if unknown:
        raise BackboneError(
            f"backbone {name!r}: unknown setting(s) {sorted(unknown)}; expected some of "
            f"{sorted(_FIELDS | {'datasets'})}"
        )
    if name in REGISTRY:
        spec = REGISTRY[name]
    elif "library" in overrides and "model" in overrides:
        spec = BackboneSpec(
            name,
            overrides["library"],
            overrides["model"],
            overrides.get("weights", NO_WEIGHTS),
            tuple(overrides.get("layers", ())),
            overrides.get("transform", LIBRARY_TRANSFORM),
        )
    else:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}; known backbones: {sorted(REGISTRY)} "
            "(or give `library` and `model` to define a new one)"
        )
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if k in _FIELDS}
    if "layers" in changes:
        changes["layers"] = tuple(changes["layers"])
    if "datasets" in overrides:
        changes["datasets"] = tuple(overrides["datasets"])
    spec = replace(spec, **changes)
    _check(spec)
    return spec


def _check(spec: BackboneSpec) -> None:
    if spec.library not in LIBRARIES:
        raise BackboneError(
            f"backbone {spec.name!r}: library {spec.library!r}; expected one of {list(LIBRARIES)}"
        )
    if spec.token_aggregation not in TOKEN_AGGREGATIONS:
        raise BackboneError(
            f"backbone {spec.name!r}: token_aggregation {spec.token_aggregation!r}; "
            f"expected one of {list(TOKEN_AGGREGATIONS)}"
        )
    if spec.train_transform not in TRAIN_TRANSFORMS:
        raise BackboneError(
            f"backbone {spec.name!r}: train_transform {spec.train_transform!r}; expected one of "
            f"{list(TRAIN_TRANSFORMS)}"
        )
    if spec.train_transform == CENTER_CROP_RESIZE and spec.transform == LIBRARY_TRANSFORM:
        raise BackboneError(
            f"backbone {spec.name!r}: train_transform {CENTER_CROP_RESIZE!r} takes its size, mean "
            "and std from a torchvision preset; `transform` is 'library'"
        )
    if spec.image_size is not None and (spec.library != "timm" or int(spec.image_size) < 16):
        raise BackboneError(
            f"backbone {spec.name!r}: image_size {spec.image_size!r}; expected a size ≥ 16 for a "
            "timm model (other libraries keep their own input size)"
        )
    if not spec.layers:
        raise BackboneError(f"backbone {spec.name!r}: `layers` is empty; expected node names")
    if len(set(spec.layers)) != len(spec.layers):
        raise BackboneError(f"backbone {spec.name!r}: `layers` {list(spec.layers)} repeats a name")


def configured_backbones(config: dict[str, Any]) -> dict[str, BackboneSpec]:
    """Every backbone the config's ``backbones`` section asks for, resolved against the registry."""
    return {
        name: get_spec(name, overrides or {})
        for name, overrides in (config.get("backbones") or {}).items()
    }


def backbones_for(config: dict[str, Any], dataset: str) -> list[str]:
    """Names of the configured backbones built for ``dataset`` (all datasets unless restricted)."""
    return [
        name
        for name, spec in configured_backbones(config).items()
        if spec.datasets is None or dataset in spec.datasets
    ]
