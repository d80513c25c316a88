"""``crm-sync plugin ...``: commands for plugin authors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.scaffold import ScaffoldError, write_plugin

plugin_app = typer.Typer(help="Write and check plugins.", no_args_is_help=True)


@plugin_app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="the plugin's name: package and entry point")],
    directory: Annotated[
        Path | None, typer.Option("--dir", help="where to write it [./NAME]")
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="the target's name in docstrings and the README")
    ] = None,
) -> None:
    """Write a ready plugin package that passes its contract tests and mypy --strict."""
    target = directory or Path(name)
    try:
        written = write_plugin(name, target, title)
    except ScaffoldError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote the plugin {name} in {target} ({len(written)} files). Next:")
    typer.echo(f"  cd {target} && pip install -e '.[test]'")
    typer.echo("  pytest && mypy")
    typer.echo(f"  crm-sync plugins    # {name} is listed (idle until its url is set)")
