"""Accuracy of fitted models on the test images: Pearson r, NSD noise ceilings and percent of noise
ceiling, per target and split; and the retrieval metrics of decoders (``retrieval``,
``retrieval_chance``).
"""
