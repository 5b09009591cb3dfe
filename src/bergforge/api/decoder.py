"""Exported decoders for ``BERG.get_decoding_model``: responses → image embeddings, retrieval.

The folder is verified against ``SHA256SUMS`` before anything is parsed
(:mod:`bergforge.export.decoder_layout`); the kind comes from the registry by the name in the
JSON, and its own ``decode`` runs on the rebuilt model folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bergforge.api.stimulus import stimulus_batches
from bergforge.errors import InvalidParameterError
from bergforge.export.decoder_layout import DecoderFolder, temporary_model_folder
from bergforge.models.kind import decode_responses

BATCH_SIZE = 100


@dataclass
class DecodingModel:
    """A loaded decoder: ``decode(responses)`` and ``retrieve(responses, …)``."""

    model_id: str
    kind: Any
    metadata: dict
    device: str
    _tmp: Any = field(repr=False)
    _folder: Any = field(repr=False)

    @property
    def response_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.metadata["response_shape"])

    def _check(self, responses: object) -> np.ndarray:
        shape = self.response_shape
        dims = ", ".join(["trial", *self.metadata.get("response_dims", [])])
        expected = (
            f"responses must be a finite real-valued numpy array [{dims}] = "
            f"(n, {', '.join(map(str, shape))}) for {self.model_id}"
        )
        if not isinstance(responses, np.ndarray) or responses.dtype.kind not in "iuf":
            got = responses.dtype if isinstance(responses, np.ndarray) else type(responses).__name__
            raise InvalidParameterError(f"{expected}; got {got}")
        if responses.ndim != len(shape) + 1 or responses.shape[1:] != shape or not len(responses):
            raise InvalidParameterError(f"{expected}; got shape {responses.shape}")
        if not np.isfinite(responses).all():
            raise InvalidParameterError(f"{expected}; got non-finite values (NaN or inf)")
        return responses.astype(np.float32)

    @property
    def subject_layers(self) -> list[int] | None:
        """The subjects with a layer of their own (a model fitted with ``subject_layers``), or
        None: the model decodes every subject alike."""
        network = self.metadata.get("model_json", {}).get("network")
        known = network.get("subject_layers") if isinstance(network, dict) else None
        return [int(s) for s in known] if known else None

    def _check_subjects(self, subjects: object, n: int) -> np.ndarray | None:
        """Each of ``n`` trials' subject number, checked (None when not given and not needed)."""
        known = self.subject_layers
        if subjects is None:
            if known:
                raise InvalidParameterError(
                    f"{self.model_id} has a layer per subject ({known}): pass subjects= (one "
                    "subject number for every trial, or an integer numpy array [trial])"
                )
            return None
        expected = (
            f"subjects must be one subject number (int) or an integer numpy array [{n}] for "
            f"{self.model_id}"
        )
        if isinstance(subjects, bool) or not isinstance(subjects, (int, np.integer, np.ndarray)):
            raise InvalidParameterError(f"{expected}; got {type(subjects).__name__}")
        given = np.asarray(subjects)
        if given.ndim == 0:
            given = np.full(n, given)
        if given.dtype.kind not in "iu" or given.shape != (n,):
            raise InvalidParameterError(f"{expected}; got {given.dtype} of shape {given.shape}")
        unknown = sorted(set(given.tolist()) - set(known)) if known else []
        if unknown:
            raise InvalidParameterError(
                f"subject(s) {unknown}: {self.model_id} has subject layers for {known} only"
            )
        return given.astype(np.int64)

    def decode(self, responses: np.ndarray, subjects: object = None) -> np.ndarray:
        """Embeddings ``[trial, n_dims]`` (float32) of responses ``[trial, *response_shape]``.

        ``subjects``: each trial's subject number (an int for all, or an integer array
        ``[trial]``); required by a model with subject layers (:attr:`subject_layers`: one of
        those subjects), unused by one that decodes every subject alike."""
        x = self._check(responses)
        subj = self._check_subjects(subjects, len(x))
        return np.asarray(decode_responses(self.kind, self._folder, x, subj), dtype=np.float32)

    def embed_images(self, images: np.ndarray, show_progress: bool = False) -> np.ndarray:
        """The target backbone's embeddings of uint8 images ``[image, 3, H, W]``."""
        from bergforge.api.backbone import build_feature_extractor

        backbone = self.metadata.get("backbone")
        if not (isinstance(backbone, dict) and backbone.get("name")):
            raise InvalidParameterError(
                f"{self.model_id} records no backbone; pass candidate_embeddings instead"
            )
        extractor = build_feature_extractor(backbone["name"], self.device, backbone)
        out = [
            extractor(b) for b in stimulus_batches(images, BATCH_SIZE, self.model_id, show_progress)
        ]
        return np.concatenate(out).reshape(len(images), -1).astype(np.float32)

    def retrieve(
        self,
        responses: np.ndarray,
        candidate_images: np.ndarray | None = None,
        candidate_embeddings: np.ndarray | None = None,
        subjects: object = None,
    ) -> np.ndarray:
        """Candidate indices ``[trial, candidate]``, best first: the decoded embedding's scores
        against the L2-normalised candidates (images run through the target backbone, or
        embeddings ``[candidate, n_dims]``); ties keep the lower index first. ``subjects``: as
        :meth:`decode`."""
        from bergforge.evaluation.retrieval import scores

        if (candidate_images is None) == (candidate_embeddings is None):
            raise InvalidParameterError(
                "pass exactly one of candidate_images (uint8 [image, 3, H, W]) or "
                f"candidate_embeddings ([candidate, {self.metadata['n_dims']}])"
            )
        if candidate_embeddings is None:
            candidates = self.embed_images(candidate_images)
        else:
            candidates = candidate_embeddings
        n = int(self.metadata["n_dims"])
        if (
            not isinstance(candidates, np.ndarray)
            or candidates.dtype.kind not in "iuf"
            or candidates.ndim != 2
            or candidates.shape[1] != n
            or not len(candidates)
            or not np.isfinite(candidates).all()
        ):
            got = (
                candidates.shape
                if isinstance(candidates, np.ndarray)
                else type(candidates).__name__
            )
            raise InvalidParameterError(
                f"candidate embeddings must be a finite real numpy array [candidate, {n}] for "
                f"{self.model_id}; got {got}"
            )
        s = scores(self.decode(responses, subjects), candidates.astype(np.float32))
        return np.argsort(-s, axis=1, kind="stable")


def load_decoding_model(
    decoder: DecoderFolder, device: str, kinds_config: dict | None
) -> DecodingModel:
    """The kind by its recorded name, and its model folder rebuilt privately."""
    from bergforge.api.own import _kind

    meta = decoder.meta
    kind = _kind(str(meta["kind"]), kinds_config)
    tmp, folder = temporary_model_folder(decoder)
    return DecodingModel(str(meta.get("model_id")), kind, meta, device, tmp, folder)
