"""The ``ridge_decoder`` kind: the classic linear decoder, brain response → image embedding.

Scaler → PCA of the flattened responses (``[trial, vertex · tr]`` BOLD windows or
``[trial, channel · time]`` epochs) → ``ridge_cv`` to every embedding dimension, the linear kind's
code reused the other way round (:mod:`.model`); the kind (:mod:`.kind`) and its fit job
(:mod:`.job`); evaluated by retrieval like every decoder.
"""
