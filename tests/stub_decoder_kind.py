"""``stub_decoder``: a decoding kind declared for planning only (task ``decode``, reads features).

It lets a tiny config give a ``bold5000`` dataset a model that reads features, so that the
features stage plans that dataset's target embeddings, without depending on the real decoders.
The tests that use it build data targets only and never fit it: :meth:`fit` refuses.
Register it with ``model_kinds: {stub_decoder: stub_decoder_kind}``.
"""

from __future__ import annotations

from pathlib import Path

from bergforge.models.kind import FitRequest


class StubDecoderKind:
    name = "stub_decoder"
    task = "decode"
    scope = "dataset"
    inputs = "features"
    berg_layout = False
    fit_outputs = ("model.json",)

    def model_name(self, backbone: str | None) -> str:
        return f"stub_decoder-{backbone}"

    def splits(self, modality: str) -> tuple[str, ...]:
        return ("all",)

    def fit(self, request: FitRequest, folder: Path) -> None:
        raise NotImplementedError("stub_decoder only plans the features stage; it is never fitted")


KIND = StubDecoderKind()
