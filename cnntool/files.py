"""The one reader of input files and the one writer of output files, for every command.

Reading: at most ``limit + 1`` bytes, regular files only (``/dev/zero`` would never end, a FIFO
would block), so a spec, a ``check`` target and a ``bench-compare`` result are bounded alike.

Writing: the whole output is made in memory first, then
- a regular file (new or existing) is replaced atomically: a temporary file in the same folder
  renamed over it, keeping the old file's mode (and owner, for root), so a reader or a failed
  write never sees half a file and the old content survives a full disk;
- a symlink is followed: its target is replaced as above and the link stays a link;
- a character device (``/dev/null``, ``/dev/stdout``) or a FIFO is written through, as a shell
  ``>`` would, never replaced; a FIFO without a reader is refused instead of blocking;
- a read-only file, a directory, a block device or a socket is refused.
``check_writable`` applies the same rules before any work, so a bad path fails in a second,
not after a 15 s export.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import Loc, SpecError

__all__ = ["read_bounded", "check_writable", "write_output"]


def _error(message: str, where: str) -> SpecError:
    return SpecError(message, Loc(where, 0, 0))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: Path | str, limit: int, what: str = "file", display: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; a SpecError at ``display`` otherwise."""
    where = display or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))  # a FIFO must not block
    except FileNotFoundError:
        raise _error("no such file", where) from None
    except OSError as exc:
        raise _error(f"cannot read {what}: {exc.strerror or exc}", where) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _error(f"cannot read {what}: it is {_kind(mode)}; give a regular file", where)
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _error(f"cannot read {what}: {exc.strerror or exc}", where) from None
    finally:
        os.close(fd)
    if size > limit:
        raise _error(f"{what} is over the limit of {limit:,} bytes", where)
    return b"".join(chunks)


def check_writable(path: Path | str | None, option: str = "--output") -> None:
    """Refuse, before any work, a path that ``write_output`` would refuse (None: standard output)."""
    if path is not None:
        _target(Path(path), option)


def _target(path: Path, option: str) -> tuple[Path, os.stat_result | None]:
    """The path to write (a symlink's target) and its stat, or None when it does not exist yet."""
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _error(f"cannot write {path}: {exc.strerror or exc}", option) from None
    if st is None:
        folder = target.parent
        if not folder.is_dir():
            raise _error(f"cannot write {path}: there is no directory {folder}", option)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _error(f"cannot write {path}: the directory {folder} is not writable", option)
    elif stat.S_ISREG(st.st_mode):
        if not st.st_mode & 0o222 or not os.access(target, os.W_OK):
            raise _error(f"cannot write {path}: it is read-only", option)
        if not os.access(target.parent, os.W_OK | os.X_OK):  # the atomic replace writes beside it
            raise _error(f"cannot write {path}: its directory {target.parent} is not writable", option)
    elif not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise _error(f"cannot write {path}: it is {_kind(st.st_mode)}", option)
    return target, st


def write_output(path: Path | str, data: str | bytes, option: str = "--output") -> None:
    """Write all of ``data`` to ``path`` by the rules above; a SpecError (exit 2) if it cannot."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    target, st = _target(Path(path), option)
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            _write_through(target, blob, stat.S_ISFIFO(st.st_mode))
        else:
            _replace(target, blob, st)
    except OSError as exc:
        raise _error(f"cannot write {path}: {exc.strerror or exc}", option) from None


def _write_through(target: Path, blob: bytes, fifo: bool) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | (os.O_NONBLOCK if fifo else 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if fifo and exc.errno == 6:  # ENXIO: nobody has the FIFO open for reading
            raise OSError(exc.errno, "it is a FIFO that no process is reading") from None
        raise
    try:
        os.set_blocking(fd, True)
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _replace(target: Path, blob: bytes, st: os.stat_result | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".cnntool-tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        if st is None:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)  # as a plain open() would, not mkstemp's 0600
        else:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
