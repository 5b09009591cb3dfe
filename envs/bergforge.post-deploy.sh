#!/usr/bin/env bash
# Run by Snakemake inside the new conda env (`--sdm conda`), from the workflow's working directory
# (the repository root): install the tested, hash-pinned packages and bergforge from this checkout.
set -euo pipefail
python -m pip install --require-hashes -r envs/requirements.lock
python -m pip install --no-deps -e .
