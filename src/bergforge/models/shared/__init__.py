"""The ``shared`` model kind: one trunk fitted on every training subject of a dataset, a linear
adapter per subject, and predictions for a subject the trunk never saw (mean adapter, few-shot)."""
