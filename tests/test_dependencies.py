"""The dependency direction (pyproject.toml [tool.importlinter], docs/architecture.md) holds, and the
check would catch an import against it: run on a copy of the packages with one wrong import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("realtime", "training", "engines")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "lint-imports is not installed: pip install -e '.[test]'"
    return subprocess.run([exe, "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=120)


def test_the_contracts_are_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "source", "contract"), [
    # training.metrics imports no realtime stage: the wrong import breaks the layer contract alone
    # (training.models would also reach realtime.dynamic_images, a later stage than spotting).
    ("realtime/spotting/wrong.py", "from training.metrics import compute_metrics\n",
     "engines above training above the realtime foundation"),
    ("training/wrong.py", "import engines\n", "engines above training above the realtime foundation"),
    ("realtime/face/wrong.py", "from realtime.pipeline.pipeline import Step\n",
     "realtime follows its data flow"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, source: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert _lint_imports(tmp_path).returncode == 0  # the copy alone is fine
    (tmp_path / module).write_text(f'"""A deliberately wrong import."""\n\n{source}')
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]  # "<name> BROKEN (n ignored imports)"
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
