"""Pretrained timm and open_clip weights from the local Hugging Face cache, never the network.

Both libraries publish their weights on the Hugging Face hub; a machine that has used them before
holds the files under ``$HF_HOME/hub`` (``HF_HUB_CACHE``). These helpers find the file a model (and,
for open_clip, a pretrained tag) names in that cache with ``huggingface_hub.try_to_load_from_cache``,
which reads only the disk; a file that is not there is a :class:`WeightsUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bergforge.features.errors import WeightsUnavailableError

TIMM_FILES = ("model.safetensors", "pytorch_model.bin")
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def cached_file(repo_id: str, filenames: Sequence[str], backbone: str) -> Path:
    """The first of ``filenames`` of hub repository ``repo_id`` found in the local cache."""
    from huggingface_hub import constants, try_to_load_from_cache

    cache = constants.HF_HUB_CACHE
    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache)
        if isinstance(found, str):
            return Path(found)
    raise WeightsUnavailableError(
        f"backbone {backbone!r}: pretrained weights {repo_id}/{filenames[0]} are not in the local "
        f"Hugging Face cache ({cache}); bergforge never downloads weights: fetch them once where "
        "there is network (huggingface_hub.hf_hub_download) and set HF_HOME, or give `weights:` a "
        "local file"
    )


def split_hub_location(location: str) -> tuple[str, str | None]:
    """``org/repo[/file]`` → ``(org/repo, file or None)``."""
    parts = [p for p in location.split("/") if p]
    if len(parts) < 2:
        raise ValueError(f"not a hub location: {location!r}")
    return "/".join(parts[:2]), "/".join(parts[2:]) or None


def timm_weights(model: str, backbone: str) -> Path:
    """The cached weights file of timm model ``model`` (its name carries the pretrained tag)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(model)
    if cfg is None or not cfg.hf_hub_id:
        raise WeightsUnavailableError(
            f"backbone {backbone!r}: timm model {model!r} has no pretrained weights on the hub; "
            "give `weights:` a local file or `weights: none`"
        )
    repo, file = split_hub_location(cfg.hf_hub_id)
    names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else (file,) if file else TIMM_FILES
    return cached_file(repo, names, backbone)


def open_clip_weights(model: str, tag: str, backbone: str) -> tuple[Path, dict[str, Any]]:
    """The cached weights file of open_clip ``model`` with pretrained ``tag``, and the tag's config."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg.get("hf_hub"):
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise WeightsUnavailableError(
            f"backbone {backbone!r}: {tag!r} is not a pretrained tag of open_clip model {model!r} "
            f"on the hub; expected a local weights file or one of {tags}"
        )
    repo, file = split_hub_location(cfg["hf_hub"])
    return cached_file(repo, (file,) if file else OPEN_CLIP_FILES, backbone), cfg
