"""The install cannot rot: every import is declared (deptry), every installed package is pinned.

.ci/run runs scripts/check_install.py in the venvs the README's commands make; these tests show
that both checks pass on the project as it is and fail on what they are there to catch.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def deptry(project: Path) -> subprocess.CompletedProcess[str]:
    """deptry on `project` with the configuration of its pyproject.toml."""
    return subprocess.run([sys.executable, "-m", "deptry", "--no-ansi", "."], cwd=project,
                          capture_output=True, text=True, timeout=300)


def load_check_install() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_install", ROOT / "scripts" / "check_install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_import_is_declared() -> None:
    run = deptry(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No dependency issues found" in run.stdout + run.stderr


def test_deptry_fails_on_an_undeclared_import(tmp_path: Path) -> None:
    # The project as it is, plus code that imports what it does not declare: click, installed here
    # only because other packages (deptry, Ray) need it, and a package nobody has.
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for folder in ("realtime", "training", "engines", "bench", "scripts", "tests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "realtime" / "uses_click.py").write_text("import click\n")
    (tmp_path / "tests" / "test_x.py").write_text("import not_a_package_anyone_has\n")
    run = deptry(tmp_path)
    report = run.stdout + run.stderr
    assert run.returncode == 1, report
    assert "realtime/uses_click.py:1:8: DEP003 'click' imported but it is a transitive dependency" in report
    assert "tests/test_x.py:1:8: DEP001 'not_a_package_anyone_has' imported but missing" in report
    assert "Found 2 dependency issues." in report


def test_pin_check_names_unpinned_and_moved_packages(tmp_path: Path) -> None:
    check = load_check_install()
    present = check.installed()
    pins = {name: version for name, version in present.items() if name != "numpy"}
    pins["typer"] = "0.0.1"
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# a comment\n" + "".join(f"{name}=={version}\n" for name, version in pins.items()))
    assert check.pin_problems(present, check.read_pins(constraints)) == [
        f"numpy=={present['numpy']} is installed but not pinned",
        f"typer=={present['typer']} is installed but pinned at 0.0.1",
    ]
    assert check.pin_problems(present, present) == []


def test_constraints_pin_exact_versions_of_the_packages_that_matter() -> None:
    check = load_check_install()
    pins = check.read_pins(ROOT / "constraints.txt")
    # jax/jaxlib: mediapipe leaves them open, and unpinned they made pip backtrack through ~1 GB of wheels;
    # torch: the CPU build; setuptools: the build backend, pinned through PIP_CONSTRAINT.
    for name in ("jax", "jaxlib", "mediapipe", "numpy", "torch", "typer", "setuptools", "ray", "deptry"):
        assert name in pins, name
    assert pins["torch"].endswith("+cpu")
    assert "pip" not in pins
