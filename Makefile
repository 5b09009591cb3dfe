# Two entry points on a fresh machine (Python >= 3.11 and make are all they need):
#   make demo   set everything up, then run the embedded demo study end to end
#   make demo-extra   the larger comparison of model kinds (config/demo_extra.yaml, in demo-extra/)
#   make test   set everything up, then run ruff, the import layers (lint-imports) and the test suite
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
# pytest-xdist workers for `make test` (tests that share one Snakemake build share it across workers;
# tests/conftest.py orders the modules, and --no-loadscope-reorder keeps that order)
TEST_WORKERS ?= 2
STAMP := $(VENV)/.bergforge-installed

.PHONY: demo demo-extra test setup lint clean-results

setup: $(STAMP)

# the lock's installer: uv (envs/installer.lock; about 40 s for the lock on 2 cores, pip about
# 135 s) or pip (`make setup INSTALLER=pip`, e.g. where only pip's configuration reaches an
# index); where uv cannot be installed or cannot install the lock, pip installs it instead
INSTALLER ?= uv
PIP_INSTALL = $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check
UV_INSTALL = $(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python --compile-bytecode

$(STAMP): envs/requirements.lock envs/installer.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifeq ($(INSTALLER),uv)
	$(PIP_INSTALL) --only-binary :all: --require-hashes -r envs/installer.lock \
		&& $(UV_INSTALL) --require-hashes -r envs/requirements.lock \
		|| { echo "uv could not install envs/requirements.lock; installing it with pip" >&2; \
		     $(PIP_INSTALL) --require-hashes -r envs/requirements.lock; }
else
	$(PIP_INSTALL) --require-hashes -r envs/requirements.lock
endif
	$(PIP_INSTALL) --no-deps -e .
	$(VENV)/bin/python -c "import torchvision; torchvision.models.alexnet(); print('environment ready:', torchvision.__version__)"
	touch $(STAMP)

# the demo's jobs are small: one thread each lets two run side by side on a 2-core laptop; the
# demo runs locally, so the SLURM plugin need not wait for a controller (README: When a job fails)
DEMO_THREADS := --set-threads fit_linear=1 evaluate_subject=1 simulate_latents=1 fit_fixation_model=1

demo: $(STAMP)
	$(BYTECODE)
	SLURM_CONF=/dev/null $(VENV)/bin/snakemake --cores $(CORES) $(DEMO_THREADS)
	$(VENV)/bin/bergforge check-berg-files results/berg
	$(VENV)/bin/python -m pytest tests/test_demo_exports.py --exports-of . -q -o addopts="" -p no:cacheprovider
	$(VENV)/bin/bergforge demo-accuracy

# 5 simulated studies × 3 subjects, linear and nonlinear truth, ridge_cv and mlp (3 seeds) models,
# shared (leave-one-subject-out) on the EEG linear truth and on a control without common structure;
# its own working folder, so the demo's results stay as they are; the summary page (with the
# leaderboard) is the target: the mlp models are not exported
DEMO_EXTRA_DIR ?= demo-extra
demo-extra: $(STAMP)
	$(BYTECODE)
	SLURM_CONF=/dev/null $(VENV)/bin/snakemake results/summary/index.html free_viewing \
		--directory $(DEMO_EXTRA_DIR) --configfile config/demo_extra.yaml --cores $(CORES) $(DEMO_THREADS)
	$(VENV)/bin/bergforge leaderboard --configfile config/demo_extra.yaml --directory $(DEMO_EXTRA_DIR)
	@echo "summary page: $(abspath $(DEMO_EXTRA_DIR))/results/summary/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks workflow/scripts
	$(VENV)/bin/ruff format --check src tests benchmarks workflow/scripts
	$(VENV)/bin/lint-imports --no-cache pyproject.toml
# lint needs no cluster: SLURM_CONF=/dev/null spares the ~10 s Snakemake's slurm plugin waits
# on `scontrol show config` where SLURM's tools are installed but no controller answers (CI)
	SLURM_CONF=/dev/null $(VENV)/bin/snakemake --lint

# bergforge's own bytecode, written once (where PYTHONDONTWRITEBYTECODE is set, as on some CI
# machines, no process writes it, and each of the suite's ~750 Snakemake runs and jobs compiled
# the package's modules again: ≈ 0.3 s of CPU each); stale files are ignored by Python
BYTECODE = $(VENV)/bin/python -m compileall -q -j 0 src > /dev/null

test: $(STAMP) lint
	$(BYTECODE)
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

clean-results:
	rm -rf results resources/raw logs .snakemake $(DEMO_EXTRA_DIR)
