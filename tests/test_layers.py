"""The import-linter contracts of pyproject.toml hold on the package and fail on a broken layer.

Each test copies src/bergforge into a temporary folder, adds one import (or module) there and runs
`lint-imports` with the copy first on PYTHONPATH and the project's pyproject.toml as its config.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

STAGES = "Stage layers"
BASE = "Base modules import no stage package"
KINDS = "Evaluation, export and the API reach model kinds only through the registry"
ACYCLIC = "No import cycles between packages"


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the bergforge package under `src` with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(CONFIG)],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of src/bergforge under tmp_path/src; returns tmp_path/src."""
    src = tmp_path / "src"
    shutil.copytree(
        REPO / "src" / "bergforge",
        src / "bergforge",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return src


def append(path: Path, line: str) -> None:
    """Add one line at the end of a module of the copy (which must exist)."""
    assert path.is_file(), f"{path} is missing from the package"
    path.write_text(path.read_text() + f"\n{line}\n")


def status(result: subprocess.CompletedProcess[str], contract: str) -> str:
    """KEPT or BROKEN, as lint-imports reports `contract` in its summary."""
    match = re.search(rf"^{re.escape(contract)} (KEPT|BROKEN)\b", result.stdout, re.MULTILINE)
    assert match, f"contract {contract!r} not in lint-imports output:\n{result.stdout}"
    return match[1]


def test_contracts_hold_on_the_package(package_copy: Path) -> None:
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout
    for contract in (STAGES, BASE, ACYCLIC):
        assert status(result, contract) == "KEPT"


def test_lower_stage_importing_a_higher_one_fails(package_copy: Path) -> None:
    (package_copy / "bergforge" / "datasets" / "layer_probe.py").write_text(
        "import bergforge.api\n"
    )
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert status(result, STAGES) == "BROKEN"
    assert status(result, BASE) == "KEPT"
    assert "bergforge.datasets is not allowed to import bergforge.api" in result.stdout
    assert "bergforge.datasets.layer_probe -> bergforge.api" in result.stdout


def test_export_importing_a_model_kind_fails(package_copy: Path) -> None:
    """Evaluation, export and the API reach kinds through the registry, never by import."""
    (package_copy / "bergforge" / "export" / "kind_probe.py").write_text(
        "import bergforge.models.linear.fit\n"
    )
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert status(result, KINDS) == "BROKEN"
    assert status(result, STAGES) == "KEPT"  # a lower layer: the layers alone allow it
    assert "bergforge.export.kind_probe -> bergforge.models.linear.fit" in result.stdout


def test_base_module_importing_a_stage_fails(package_copy: Path) -> None:
    append(package_copy / "bergforge" / "config.py", "import bergforge.datasets")
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert status(result, BASE) == "BROKEN"
    assert status(result, STAGES) == "BROKEN"
    assert "bergforge.config is not allowed to import bergforge.datasets" in result.stdout


def test_cycle_between_base_modules_fails(package_copy: Path) -> None:
    # errors and config share the base layer, so only the cycle contract can see this
    append(package_copy / "bergforge" / "errors.py", "import bergforge.config")
    append(package_copy / "bergforge" / "config.py", "import bergforge.errors")
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert status(result, ACYCLIC) == "BROKEN"
    assert status(result, STAGES) == "KEPT"
    assert status(result, BASE) == "KEPT"
    assert "No cycles are allowed in bergforge." in result.stdout


def test_top_level_module_outside_every_layer_fails(package_copy: Path) -> None:
    (package_copy / "bergforge" / "unplaced.py").write_text('"""In no layer."""\n')
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert status(result, STAGES) == "BROKEN"
    assert "- bergforge.unplaced" in result.stdout
