"""The command line: options -> engine -> render -> exit code.

Start-up time is product quality: nothing heavy is imported at module level (ruamel,
dockerfile-parse and libcst load only when a command needs them).
"""

from __future__ import annotations

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

EXIT_OK, EXIT_PENDING, EXIT_ERROR = 0, 1, 2


def _err(msg: str) -> None:
    sys.stderr.write(f"harden: error: {msg}\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"harden {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


def _split(values: Optional[List[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def _options(path: Path, select: Optional[List[str]], ignore: Optional[List[str]]):
    from .config import Options
    from harden.transforms import names

    known = names()
    opts = Options()
    try:
        from .settings import load_settings  # config file support, when present

        opts = load_settings(path, opts)
    except ModuleNotFoundError as e:
        if e.name != "harden.settings":
            raise
    sel, ign = _split(select), _split(ignore)
    for n in sel + ign:
        if n not in known:
            raise typer.BadParameter(f"unknown transform {n!r} (known: {', '.join(known)})")
    if select:
        opts.select = sel
    if ignore:
        opts.ignore = ign
    return opts


def _execute(path: Path, select, ignore):
    from .engine import run
    from .errors import HardenError

    if not path.exists() and not path.is_symlink():
        _err(f"{path}: no such file or directory")
        raise typer.Exit(EXIT_ERROR)
    try:
        opts = _options(path, select, ignore)
        result = run(path, opts)
    except HardenError as e:
        _err(e.one_line())
        raise typer.Exit(EXIT_ERROR)
    if result.errors:
        for e in result.errors:
            _err(e.one_line())
        raise typer.Exit(EXIT_ERROR)
    return result


PathArg = typer.Argument(Path("."), help="Project folder, or one Dockerfile or compose file.", show_default=True)
SelectOpt = typer.Option(None, "--select", help="Run only these transforms (repeat or comma-separate).")
IgnoreOpt = typer.Option(None, "--ignore", help="Do not run these transforms.")
FormatOpt = typer.Option("text", "--format", help="text, json or sarif.")


@app.command()
def diff(
    path: Path = PathArg,
    select: Optional[List[str]] = SelectOpt,
    ignore: Optional[List[str]] = IgnoreOpt,
    format: str = FormatOpt,
    color: Optional[bool] = typer.Option(None, "--color/--no-color", help="Colour the diff (default: on a terminal)."),
) -> None:
    """Show what apply would change, as a unified diff. Exit 0: nothing to do, 1: changes pending, 2: error."""
    from . import report

    result = _execute(path, select, ignore)
    pending = bool(result.changed_files)
    if format == "json":
        sys.stdout.write(report.json_text(result, applied=False))
    elif format == "sarif":
        from .sarif import sarif_text

        sys.stdout.write(sarif_text(result))
    else:
        use_color = sys.stdout.isatty() if color is None else color
        sys.stdout.write(report.diff_text(result, color=use_color))
        sys.stderr.write(report.summary_text(result, applied=False))
    raise typer.Exit(EXIT_PENDING if pending else EXIT_OK)


@app.command()
def apply(
    path: Path = PathArg,
    select: Optional[List[str]] = SelectOpt,
    ignore: Optional[List[str]] = IgnoreOpt,
    format: str = FormatOpt,
) -> None:
    """Rewrite the files in place. Exit 0, or 2 on error."""
    from . import report
    from .io import clean_stale_temps, write_atomic

    result = _execute(path, select, ignore)
    for folder in {f.path.parent for f in result.files}:
        clean_stale_temps(folder)
    for f in result.changed_files:
        try:
            write_atomic(f.path, f.after)
        except OSError as e:
            _err(f"{f.rel}: cannot write: {e.strerror or e}")
            raise typer.Exit(EXIT_ERROR)
    if format == "json":
        sys.stdout.write(report.json_text(result, applied=True))
    elif format == "sarif":
        from .sarif import sarif_text

        sys.stdout.write(sarif_text(result))
    else:
        sys.stdout.write(report.summary_text(result, applied=True))
    raise typer.Exit(EXIT_OK)


@app.command("list")
def list_(format: str = typer.Option("text", "--format", help="text or json.")) -> None:
    """List the transforms, in the order they run."""
    from harden.transforms import all_transforms

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
        _err(f"unknown transform {name!r} (known: {', '.join(names())})")
        raise typer.Exit(EXIT_ERROR)
    sys.stdout.write(f"{t.name}: {t.summary}\n\n{t.docs()}\n")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
