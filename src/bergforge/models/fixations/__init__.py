"""Free-viewing encoding models: per-fixation features of several training subjects → the
fixation-locked MEG of a subject never seen, predicted from its features alone.

Two kinds (:data:`FIXATION_KINDS`), fitted on per-subject matrices ``xs[i]`` (fixations ×
features) and ``ys[i]`` (fixations × targets, the same targets for every subject, e.g. channels ×
selected times flattened):

- ``ridge_cv`` (:mod:`.ridge`): one ridge per target on the training subjects pooled, features
  standardised on them, targets scaled, the penalty per target chosen by efficient leave-one-out
  (NumPy, float64; the choice scikit-learn's ``RidgeCV(alpha_per_target=True)`` makes);
- ``shared`` (:mod:`.shared`): the ``shared`` kind's trunk and one linear adapter per training
  subject, trained on every subject's fixations; the unseen subject gets the **mean adapter**.

:func:`fit_fixation_model` fits either; :class:`FixationModel` predicts the unseen subject and
:func:`save_fixation_model` / :func:`load_fixation_model` write and read its folder
(``weights.safetensors`` + ``model.json`` + ``checksums.json``, no pickle; :mod:`.folder`).
"""

from bergforge.models.fixations.folder import load_fixation_model, save_fixation_model
from bergforge.models.fixations.model import FixationModel, fit_fixation_model
from bergforge.models.fixations.settings import FIXATION_KINDS

__all__ = [
    "FIXATION_KINDS",
    "FixationModel",
    "fit_fixation_model",
    "load_fixation_model",
    "save_fixation_model",
]
