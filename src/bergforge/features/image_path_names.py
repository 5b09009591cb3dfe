"""The names of BERG's two image paths (``bergforge.features.image_paths``) and the record of the
path a backbone takes, without torch: model cards and own-layout exports write the record."""

from __future__ import annotations

from typing import Any

from bergforge.features.registry import (
    CENTER_CROP_RESIZE,
    LIBRARY_TRANSFORM,
    SPEC_SETTINGS,
    BackboneSpec,
    get_spec,
)

PRESET_PIL = "preset_pil"
CENTER_CROP_RESIZE_PIL = "center_crop_resize_pil"
LIBRARY_PIL = "library_pil"
PRESET_UINT8_TENSOR = "preset_uint8_tensor"


def image_transform_record(spec: BackboneSpec) -> dict[str, str]:
    """``{"train": …, "inference": …}``: the path each side takes, for provenance and cards."""
    if spec.transform == LIBRARY_TRANSFORM:
        return {"train": LIBRARY_PIL, "inference": LIBRARY_PIL}
    train = CENTER_CROP_RESIZE_PIL if spec.train_transform == CENTER_CROP_RESIZE else PRESET_PIL
    return {"train": train, "inference": PRESET_UINT8_TENSOR}


def recorded_image_transform(recorded: dict[str, Any]) -> dict[str, str]:
    """:func:`image_transform_record` of a spec as recorded (``BackboneSpec.as_dict``)."""
    overrides = {k: v for k, v in recorded.items() if k in SPEC_SETTINGS}
    return image_transform_record(get_spec(str(recorded["name"]), overrides))
