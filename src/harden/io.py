"""Reading and writing files safely.

Reads decode strict UTF-8 (a BOM is kept in the text) and turn every failure into a
HardenError naming the file. Writes go to a temporary file in the same folder, get the
original's mode, are flushed to disk and renamed over the original: a reader (or a crash)
sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HardenError

TMP_PREFIX = ".harden-tmp-"


def read_text(path: Path, display: str | None = None, limit: int | None = None) -> str:
    name = display or str(path)
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except PermissionError:
        raise HardenError(name, "cannot read file: permission denied") from None
    except IsADirectoryError:
        raise HardenError(name, "is a directory, not a file") from None
    except OSError as e:
        raise HardenError(name, f"cannot read file: {e.strerror or e}") from None
    if limit is not None and len(data) > limit:
        raise HardenError(name, f"file larger than {limit // (1024 * 1024)} MB; harden does not rewrite files this large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise HardenError(name, f"not valid UTF-8 (byte 0x{data[e.start]:02x})", line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise HardenError(name, "contains a NUL byte (binary file?)", line)
    return text


def _test_pause() -> None:
    """Test hook, off unless HARDEN_TEST_SLOW_WRITES=seconds is set: a pause before and after
    each rename, so tests/test_interrupted_writes.py can kill apply between any two steps."""
    delay = os.environ.get("HARDEN_TEST_SLOW_WRITES")
    if delay:
        import time

        time.sleep(float(delay))


def _stage(path: Path, text: str) -> tuple[str, Path]:
    """Write ``text`` to a temporary file beside ``path`` (flushed, with the original's mode);
    returns (temporary path, real path). Leaves nothing behind when it fails."""
    # a symlink (inside the project) is written through: replacing the link itself would leave
    # its target unchanged and turn the link into a copy
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    import tempfile  # only when writing: its import (with shutil, random) costs ~4 ms

    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp, real


def _unlink(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_atomic(path: Path, text: str) -> None:
    tmp, real = _stage(Path(path), text)
    try:
        _test_pause()
        os.replace(tmp, real)
        _test_pause()
    except BaseException:
        _unlink(tmp)
        raise


def write_all_atomic(files: list[tuple[Path, str, str]]) -> None:
    """Write several files, each atomically, and all or none as far as the system allows:
    every new version is written to a temporary file first, and only when all of them are
    written are they renamed over the originals. A failure while writing (disk full, a
    read-only folder) leaves every original as it was. ``files``: (path, text, display name).
    Raises HardenError naming the file."""
    staged: list[tuple[str, Path, str]] = []
    try:
        for path, text, name in files:
            try:
                tmp, real = _stage(Path(path), text)
            except OSError as e:
                raise HardenError(name, f"cannot write: {e.strerror or e}") from None
            staged.append((tmp, real, name))
        while staged:
            tmp, real, name = staged[0]
            _test_pause()
            try:
                os.replace(tmp, real)
            except OSError as e:
                raise HardenError(name, f"cannot write: {e.strerror or e}") from None
            staged.pop(0)
            _test_pause()
    finally:
        for tmp, _real, _name in staged:
            _unlink(tmp)


def clean_stale_temps(folder: Path) -> None:
    """Remove temporary files an interrupted earlier run left behind."""
    try:
        for entry in os.scandir(folder):
            if entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass
