"""The command line: options -> engine -> render -> exit code.

Start-up time is product quality: nothing heavy is imported at module level (ruamel,
dockerfile-parse and libcst load only when a command needs them; json and tomllib only when
an output or a config file needs them).

Exit codes: 0 nothing to do (or `apply` done), 1 `diff` found pending changes, 2 error (bad
input, bad option, bad config: one line ``harden: error: WHERE: what is wrong``; also when a
transform failed inside harden, after the rest of the output), 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Rewrite a repository's Dockerfile and compose files to production standards, in a minimal diff that keeps every comment.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

from .commands import EXIT_ERROR, EXIT_OK, Fail as _Fail, check_format as _check_format, check_path as _check_path, err as _err, options as _options


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"harden {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


PathArg = typer.Argument(Path("."), help="Project folder, or one Dockerfile or compose file.", show_default=True)
SelectOpt = typer.Option(None, "--select", help="Run only these transforms (repeat or comma-separate). Replaces the config's select.")
IgnoreOpt = typer.Option(None, "--ignore", help="Do not run these transforms. Replaces the config's ignore ('' clears it).")
FormatOpt = typer.Option("text", "--format", help="text, json or sarif.")
SetOpt = typer.Option(None, "--set", metavar="KEY=VALUE", help="Set a transform option (uid=1000, backend_network=db); wins over the config file.")
ConfigOpt = typer.Option(None, "--config", help="Read this config file instead of PATH/.harden.toml or PATH/pyproject.toml [tool.harden].")


@app.command()
def diff(
    path: Path = PathArg,
    select: Optional[List[str]] = SelectOpt,
    ignore: Optional[List[str]] = IgnoreOpt,
    format: str = FormatOpt,
    sets: Optional[List[str]] = SetOpt,
    config: Optional[Path] = ConfigOpt,
    color: Optional[bool] = typer.Option(None, "--color/--no-color", help="Colour the diff (default: when stdout is a terminal and NO_COLOR is unset)."),
) -> None:
    """Show what apply would change, as a unified diff. Exit 0: nothing to do, 1: changes pending, 2: error."""
    from . import commands

    raise typer.Exit(commands.diff(path, select, ignore, format, sets, config, color))


@app.command()
def apply(
    path: Path = PathArg,
    select: Optional[List[str]] = SelectOpt,
    ignore: Optional[List[str]] = IgnoreOpt,
    format: str = FormatOpt,
    sets: Optional[List[str]] = SetOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Rewrite the files in place and print what changed. Exit 0, or 2 on error."""
    from . import commands

    raise typer.Exit(commands.apply(path, select, ignore, format, sets, config))


@app.command("list")
def list_(format: str = typer.Option("text", "--format", help="text or json.")) -> None:
    """List the transforms, in the order they run."""
    from harden.transforms import all_transforms

    _check_format(format, ("text", "json"))
    ts = all_transforms()
    if format == "json":
        import json

        sys.stdout.write(json.dumps([{"name": t.name, "summary": t.summary, "kind": t.kind} for t in ts], indent=2) + "\n")
        return
    width = max((len(t.name) for t in ts), default=0)
    for t in ts:
        sys.stdout.write(f"{t.name.ljust(width)}  {t.summary}\n")


@app.command()
def explain(name: str = typer.Argument(..., help="A transform name (see `harden list`).")) -> None:
    """Print a transform's documentation."""
    from harden.transforms import by_name, names

    t = by_name(name)
    if t is None:
        raise _Fail(f"unknown transform {name!r} (known: {', '.join(names())})")
    sys.stdout.write(f"{t.name}: {t.summary}\n\n{t.docs()}\n")


@app.command("inspect")
def inspect_(
    path: Path = PathArg,
    format: str = typer.Option("text", "--format", help="text or json."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Show each compose service's role, port, whom it talks to and egress, with the evidence (file:line). Writes nothing."""
    from .errors import HardenError

    _check_format(format, ("text", "json"))
    _check_path(path)
    from . import inspect as inspect_mod

    try:
        opts = _options(path, None, None, None, config)
        result = inspect_mod.inspect(path, opts, config)
    except HardenError as e:
        errors = inspect_mod.errors_of(e)
        for x in errors[:-1]:
            _err(x.one_line())
        raise _Fail(errors[-1].one_line()) from None
    if format == "json":
        sys.stdout.write(inspect_mod.json_text(result))
    else:
        sys.stdout.write(inspect_mod.text(result, str(path)))


@app.command()
def verify(
    path: Path = PathArg,
    select: Optional[List[str]] = SelectOpt,
    ignore: Optional[List[str]] = IgnoreOpt,
    sets: Optional[List[str]] = SetOpt,
    config: Optional[Path] = ConfigOpt,
    format: str = typer.Option("text", "--format", help="text or json."),
    stack: bool = typer.Option(False, "--stack", help="Also bring the whole project up both ways and compare every service (state, health, restarts, start order)."),
    wait: float = typer.Option(20.0, "--wait", metavar="SECONDS", help="How long each service runs before it is judged."),
    hardened: Optional[Path] = typer.Option(None, "--hardened", metavar="DIR", help="Compare PATH with this folder (hardened by hand or by an earlier harden) instead of harden's rewrite of PATH."),
) -> None:
    """Prove on this machine that the hardened project still builds and runs: build every image harden changes and start its services, before and after, in a temporary copy (your files are only read). Needs a Docker engine. Exit 0: nothing regressed, 1: a regression, 2: could not verify."""
    from . import commands

    raise typer.Exit(commands.verify(path, select, ignore, sets, config, format, stack, wait, hardened))


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point. Usage errors (unknown option, missing value) become one line and exit 2,
    like every other error."""
    try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
        from typer import _click as click
    except ImportError:  # pragma: no cover
        import click  # type: ignore[no-redef]

    try:
        rc = app(args=argv, prog_name="harden", standalone_mode=False)
    except _Fail as e:
        _err(str(e))
        rc = EXIT_ERROR
    except click.exceptions.NoArgsIsHelpError as e:  # bare `harden`: the help, as before
        sys.stdout.write((e.ctx.get_help() if e.ctx else "") + "\n")
        rc = EXIT_ERROR
    except click.ClickException as e:
        _err(e.format_message())
        rc = e.exit_code if e.exit_code else EXIT_ERROR
    except (click.exceptions.Abort, KeyboardInterrupt):
        _err("interrupted")
        rc = 130
    except BrokenPipeError:  # `harden diff | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        rc = EXIT_ERROR
    if isinstance(rc, int):
        sys.exit(rc)
    sys.exit(EXIT_OK)
