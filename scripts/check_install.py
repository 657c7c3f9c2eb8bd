"""Check the active venv against the lock: what CI runs after each README install.

An install rots when a package arrives at a version nobody chose (an upstream release) or
arrives at all without being pinned; a console script breaks when its imports are not
installed. So, in the venv this interpreter belongs to:
- every installed package is pinned in constraints.txt, at the version installed (pip itself,
  which comes with the venv, and the project's own editable install aside);
- `pip check` finds no broken requirement;
- every console script of pyproject.toml's [project.scripts] answers `--help` with exit 0.

    python scripts/check_install.py [--constraints constraints.txt]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dianet-mer"
NOT_LOCKED = {"pip", PROJECT}  # pip comes with the venv; the project is installed from the tree
HELP_TIMEOUT_S = 120


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (ImageIO == imageio, et_xmlfile == et-xmlfile)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """{name: version} of the `name==version` lines of a constraints file."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise SystemExit(f"{path}:{number}: not a `name==version` pin: {raw!r}")
        pins[canonical(name.strip())] = version.strip()
    return pins


def installed() -> dict[str, str]:
    """{name: version} of every distribution this interpreter can import from."""
    return {canonical(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}


def pin_problems(present: dict[str, str], pins: dict[str, str]) -> list[str]:
    """One line per installed package that the pins do not name, or name at another version."""
    problems = []
    for name, version in sorted(present.items()):
        if name in NOT_LOCKED:
            continue
        if name not in pins:
            problems.append(f"{name}=={version} is installed but not pinned")
        elif pins[name] != version:
            problems.append(f"{name}=={version} is installed but pinned at {pins[name]}")
    return problems


def pip_check_problems() -> list[str]:
    """`pip check`'s complaints (broken or missing requirements), one per line."""
    run = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    return [] if run.returncode == 0 else [f"pip check: {line}" for line in run.stdout.splitlines() if line]


def console_script_problems() -> list[str]:
    """Every [project.scripts] command as installed on PATH, run with --help: exit 0 or why not."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    bin_dir = Path(sys.executable).parent
    problems = []
    for name in sorted(scripts):
        exe = shutil.which(name, path=str(bin_dir))
        if exe is None:
            problems.append(f"{name}: not installed in {bin_dir} (pip install -e . again)")
            continue
        run = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=HELP_TIMEOUT_S)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            problems.append(f"{name} --help: exit {run.returncode}: {last}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints.txt")
    args = parser.parse_args()
    problems = (pin_problems(installed(), read_pins(args.constraints)) + pip_check_problems()
                + console_script_problems())
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if not problems:
        print(f"install ok: every package pinned in {args.constraints.name}, pip check clean, "
              "every console script answers --help")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
