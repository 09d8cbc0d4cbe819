"""What `harden diff` and `harden apply` do once their options are known, without typer.

The typer app (cli.py) and the start-up fast path (main.py) both call these, so the two ways in
cannot drift apart. Each returns the exit code; errors raise :class:`Fail` (one line, exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

EXIT_OK, EXIT_PENDING, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "sarif")


class Fail(Exception):
    """One error line, then exit 2."""


def err(msg: str) -> None:
    sys.stderr.write(f"harden: error: {' '.join(str(msg).split())}\n")


def split_names(values: Optional[List[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def options(path: Path, select: Optional[List[str]], ignore: Optional[List[str]],
            sets: Optional[List[str]] = None, config: Optional[Path] = None):
    """Defaults < config file < command line. ``--select``/``--ignore`` replace the file's lists
    (``--ignore ''`` clears it); ``--set KEY=VALUE`` replaces one option."""
    from .config import Options
    from .errors import HardenError
    from .settings import load_settings, parse_set
    from harden.transforms import names

    known = names()
    for flag, values in (("--select", select), ("--ignore", ignore)):
        for n in split_names(values):
            if n not in known:
                raise Fail(f"{flag}: unknown transform {n!r} (known: {', '.join(known) or 'none'})")
    opts = load_settings(path, Options(), config=config, known=known)
    for item in sets or []:
        try:
            key, value = parse_set(item)
        except HardenError as e:
            raise Fail(e.one_line()) from None
        opts.values[key] = value
    if select is not None:
        opts.select = split_names(select)
    if ignore is not None:
        opts.ignore = split_names(ignore)
    return opts


def check_format(format: str, allowed: tuple[str, ...] = FORMATS) -> None:
    if format not in allowed:
        raise Fail(f"--format: unknown format {format!r} (use {', '.join(allowed)})")


def check_path(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        raise Fail(f"{path}: no such file or directory")
    if path.is_symlink() and not path.exists():
        raise Fail(f"{path}: broken symlink")
    if path.is_dir() and not os.access(path, os.R_OK | os.X_OK):
        raise Fail(f"{path}: cannot read folder: permission denied")


def execute(path: Path, select, ignore, sets=None, config=None):
    from .engine import run
    from .errors import HardenError

    check_path(path)
    progress = None
    try:
        opts = options(path, select, ignore, sets, config)
        from .progress import Progress

        progress = Progress.for_stderr()
        result = run(path, opts, progress=progress)
    except HardenError as e:
        raise Fail(e.one_line()) from None
    finally:
        if progress is not None:
            progress.close()
    if result.errors and (not result.errored or not result.files):
        # a file named on the command line, an error no project can be set aside for, or
        # nothing else to do: the error is all there is to say
        for e in result.errors[:-1]:
            err(e.one_line())
        raise Fail(result.errors[-1].one_line())
    for e in result.errors:  # a folder run: the other projects go on; exit 2 at the end
        err(e.one_line())
    return result


def _render(result, format: str, *, applied: bool) -> None:
    from . import report

    if format == "json":
        sys.stdout.write(report.json_text(result, applied=applied))
    elif format == "sarif":
        from .sarif import sarif_text

        sys.stdout.write(sarif_text(result, applied=applied))


def _failures(result, *, applied: bool = False) -> int:
    """Exit 2 when a project was left out because a file of it could not be read (listed above,
    one line each), or when a transform failed (an unexpected error inside harden, or edits the
    safety net refused; already in the summary; its edits were rolled back, the others stand):
    a run that could not do everything it should must not look like success to CI."""
    code = 0
    if result.errored:
        n = len(result.errored)
        err(f"{n} project{'s' if n != 1 else ''} left out: a file of {'each' if n != 1 else 'it'} could not be read "
            f"(above); nothing of {'them' if n != 1 else 'it'} was {'written' if applied else 'changed'}, "
            f"every other project was {'rewritten' if applied else 'checked'}")
        code = EXIT_ERROR
    failed = [o for o in result.outcomes if o.status == "failed"]
    if failed:
        names = sorted({o.transform for o in failed})
        err(f"{failed[0].file}: {', '.join(names)} failed ({len(failed)} in all, listed above); "
            "the other transforms' results stand. This is a bug in harden: please report it with the file")
        code = EXIT_ERROR
    return code


def diff(path: Path, select: Optional[List[str]] = None, ignore: Optional[List[str]] = None,
         format: str = "text", sets: Optional[List[str]] = None, config: Optional[Path] = None,
         color: Optional[bool] = None) -> int:
    from . import report

    check_format(format)
    result = execute(path, select, ignore, sets, config)
    pending = bool(result.changed_files)
    if format == "text":
        use_color = (sys.stdout.isatty() and not os.environ.get("NO_COLOR")) if color is None else color
        sys.stdout.write(report.diff_text(result, color=use_color))
        sys.stderr.write(report.summary_text(result, applied=False))
    else:
        _render(result, format, applied=False)
    return _failures(result) or (EXIT_PENDING if pending else EXIT_OK)


def apply(path: Path, select: Optional[List[str]] = None, ignore: Optional[List[str]] = None,
          format: str = "text", sets: Optional[List[str]] = None, config: Optional[Path] = None) -> int:
    from . import report
    from .errors import HardenError
    from .io import clean_stale_temps, write_all_atomic

    check_format(format)
    result = execute(path, select, ignore, sets, config)
    for folder in {f.path.parent for f in result.files}:
        clean_stale_temps(folder)
    try:  # every file to a temporary first, then all renamed: a write error changes nothing
        write_all_atomic([(f.path, f.after, f.rel) for f in result.changed_files])
    except HardenError as e:
        raise Fail(e.one_line()) from None
    if format == "text":
        sys.stdout.write(report.summary_text(result, applied=True))
    else:
        _render(result, format, applied=True)
    return _failures(result, applied=True) or EXIT_OK


def verify(path: Path, select: Optional[List[str]] = None, ignore: Optional[List[str]] = None,
           sets: Optional[List[str]] = None, config: Optional[Path] = None, format: str = "text",
           stack: bool = False, wait: float = 20.0, hardened: Optional[Path] = None) -> int:
    """`harden verify`: see harden.verify. Builds and runs the project before and after harden in
    a temporary copy; 0 nothing regressed, 1 a regression, 2 could not verify (one line)."""
    from . import verify as verify_mod

    check_format(format, ("text", "json"))
    check_path(path)
    if hardened is not None:
        check_path(hardened)
        if not (path.is_dir() and hardened.is_dir()):
            raise Fail("--hardened: PATH and DIR must both be folders")
    if wait <= 0:
        raise Fail("--wait: must be more than 0 seconds")
    opts = options(path, select, ignore, sets, config)
    try:
        return verify_mod.command(path, opts=opts, config=config, hardened=hardened, stack=stack, wait=wait,
                                  format=format)
    except verify_mod.VerifyFailed as e:
        raise Fail(f"verify: {e}") from None
    except KeyboardInterrupt:  # after verify's clean-up; typer would exit 130 without a word
        err("interrupted")
        return 130


def guarded(call) -> int:
    """Run ``call()`` and turn the failures every entry point shares into an exit code:
    one error line (2), an interrupt (130), a closed pipe as in ``harden diff | head`` (2)."""
    try:
        return call()
    except Fail as e:
        err(str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_ERROR
    except Exception as e:  # a bug in harden itself: one line, not a traceback, nothing written
        if os.environ.get("HARDEN_DEBUG"):
            raise
        err(f"internal error: {type(e).__name__}: {e} (a bug in harden; nothing was written; "
            "HARDEN_DEBUG=1 shows the traceback)")
        return EXIT_ERROR
