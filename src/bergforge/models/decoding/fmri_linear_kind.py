"""The ``fmri_linear`` kind: neuralbench's linear fMRI decoder (its model ``fmri_linear``), BOLD
windows → image embedding by a linear map, trained as ``fmri_mlp`` is.

``fmri_mlp``'s network with ``linear: true`` and no residual blocks or dropout
(:class:`~bergforge.models.decoding.settings.LinearDecoderConfig`): ``lin0`` per TR → the learned
TR weighting → ``lin1`` → head, a linear map of rank ``hidden``, trained with the CLIP loss,
AdamW + one-cycle and early stopping on the validation trials' in-batch top-5. Beside
``ridge_decoder`` (the same kind of map, fitted by least squares) and ``fmri_mlp`` (the
nonlinear network, trained alike) it separates what the retrieval loss gains from what the
nonlinearity gains. Its own kind (not an ``fmri_mlp`` setting), so the three sit in one config
and one leaderboard.
"""

from __future__ import annotations

from bergforge.models.decoding.kind import FmriMlpKind


class FmriLinearKind(FmriMlpKind):
    """``weights.safetensors`` and ``model.json`` (written last) in ``results/models/{dataset}/
    fmri_linear-{backbone}/`` (``…_seed{seed}`` with a ``seeds`` list); fitted and read by
    ``fmri_mlp``'s code under this kind's name (its settings: ``LinearDecoderConfig``)."""

    name = "fmri_linear"


KIND = FmriLinearKind()
