"""Exported model trees: BERG's layout (weights, metadata, accuracy plots, model cards, file names
and keys as BERG writes them), bergforge's own layout for the other model kinds (safetensors +
JSON, :mod:`bergforge.export.own_layout`) and the SHA-256 manifest.
"""
