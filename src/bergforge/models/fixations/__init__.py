"""Free-viewing encoding models: per-fixation features of several training subjects → the
fixation-locked MEG of a subject never seen, predicted from its features alone.

Two kinds (:data:`.settings.FIXATION_KINDS`), fitted on per-subject matrices ``xs[i]`` (fixations ×
features) and ``ys[i]`` (fixations × targets, the same targets for every subject, e.g. channels ×
selected times flattened):

- ``ridge_cv`` (:mod:`.ridge`): one ridge per target on the training subjects pooled, features
  standardised on them, targets scaled, the penalty per target chosen by efficient leave-one-out
  (NumPy, float64; the choice scikit-learn's ``RidgeCV(alpha_per_target=True)`` makes);
- ``shared`` (:mod:`.shared`): the ``shared`` kind's trunk and one linear adapter per training
  subject, trained on every subject's fixations; the unseen subject gets the **mean adapter**.

:func:`.model.fit_fixation_model` fits either; :class:`.model.FixationModel` predicts the unseen
subject and :func:`.folder.save_fixation_model` / :func:`.folder.load_fixation_model` write and
read its folder (``weights.safetensors`` + ``model.json`` + ``checksums.json``, no pickle). Each
lives in its own module (:mod:`.model`, :mod:`.folder`, :mod:`.settings`); this package imports
none of them, so reading the settings (as Snakemake's parse does) loads no network code.
"""
