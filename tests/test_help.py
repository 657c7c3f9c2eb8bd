"""--help in one style for every command: flags shown as flags, every option described, examples,
`[distributed]` as written, and mer-train's --preset naming every preset."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

SCRIPTS = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]


def _app(target: str) -> typer.Typer:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """The command and its subcommands (typer's own click objects: typer 0.29 carries its copy)."""
    found = [(path, command)]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_command_has_the_one_help_style(script: str) -> None:
    app = _app(SCRIPTS[script])
    assert app.rich_markup_mode is None and app.info.epilog.startswith("Examples:"), "made with make_app"
    for path, command in _commands(typer.main.get_command(app)):
        result = CliRunner().invoke(app, [*path, "--help"], prog_name=script, env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.output
        text = result.output
        assert "<bool>" not in text and "╭" not in text  # flags as flags, plain text
        options = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
        if not hasattr(command, "commands"):
            assert options, f"{script} {' '.join(path)}: no options seen"  # --verbose at least
        for param in options:
                assert param.help and param.help.strip(), f"{script} {' '.join(path)}: {param.opts} has no text"
                name = max(param.opts, key=len)
                assert name in text
                if param.is_flag:
                    assert f"{name} <" not in text  # shown as a flag, without a value
        if not path:  # the command itself (a group's subcommands have their own help)
            assert "Examples:" in text and f"  {script} " in text.split("Examples:")[1]


def test_the_distributed_extra_is_shown_as_written() -> None:
    result = CliRunner().invoke(_app(SCRIPTS["mer-process"]), ["--help"], env={"COLUMNS": "200"})
    text = re.sub(r"-\s+", "-", " ".join(result.output.split()))  # a line may break after a hyphen
    assert "[distributed]" in result.output and "pip install 'dianet-mer[distributed]'" in text


def test_mer_train_preset_names_every_preset() -> None:
    from training.presets import PRESETS

    result = CliRunner().invoke(_app(SCRIPTS["mer-train"]), ["--help"], env={"COLUMNS": "200"})
    line = " ".join(result.output.split("--preset", 1)[1].split()[:20])
    assert "demo" in PRESETS
    for name in (*PRESETS, "auto"):
        assert name in line, (name, line)
