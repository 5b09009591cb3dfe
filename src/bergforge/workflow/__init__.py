"""Helpers of the Snakemake rules: target lists and input functions computed from the validated
config.
"""
