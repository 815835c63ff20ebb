r"""Files graphdenoise writes and reads back: atomic writes, code-free loading, checksummed caches.

* :func:`atomic_write` writes through a temporary file in the target folder, flushes and ``fsync``\ s
  it, renames it over the target and ``fsync``\ s the folder, so neither a killed process nor a power
  loss leaves a partial or empty file under the final name. Written files get the permissions of the
  user's umask (``mkstemp`` alone would leave them ``0600``), and the temporary files that a killed
  writer left behind (``.<name>.<host>-<pid>.<random>.tmp``) are removed on the next write.
* :func:`safe_torch_load` reads a :func:`torch.save` file with ``weights_only=True``: tensors and
  plain containers only. A file that would need code to load (a pickled object whose ``__reduce__``
  calls a function) is refused with a :class:`UnsafeFileError` naming the file; nothing in it runs.
  This is the only way graphdenoise reads a ``.pt`` file (results, checkpoints, processed datasets).
* :func:`write_checksum` / :func:`verify_checksum` keep a ``<file>.sha256`` sidecar, written after
  the file itself, so a cache whose bytes changed, was truncated or emptied is detected before it is
  unpickled.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import socket
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch

PathLike = Union[str, Path]
_ORPHAN_AGE_S = 24 * 3600  # another machine's temporary file (shared folder) is an orphan after a day
_LEGACY_ORPHAN_AGE_S = 600  # temporary names of earlier versions carry no pid


class UnsafeFileError(ValueError):
    r"""A file that would need code to load (or is not a graphdenoise file at all): never unpickled."""


class CorruptFileError(ValueError):
    r"""A file that is empty, truncated or whose bytes do not match its recorded checksum."""


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_orphaned_temporaries(path: PathLike) -> int:
    r"""Removes the temporary files of killed writers of ``path``; returns how many were removed.

    A temporary file is an orphan when its writer (host and pid are in its name) no longer runs on
    this machine, when it comes from another machine and is older than a day, or when it has the
    pid-less name of earlier graphdenoise versions and is older than ten minutes.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return 0
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:(?P<host>[0-9a-f]{{8}})-(?P<pid>\d+)\.)?[^.]+\.tmp$")
    removed, host, now = 0, _host_tag(), time.time()
    for candidate in path.parent.iterdir():
        match = pattern.match(candidate.name)
        if match is None:
            continue
        try:
            age = now - candidate.stat().st_mtime
        except FileNotFoundError:
            continue
        if match["pid"] is None:
            orphan = age > _LEGACY_ORPHAN_AGE_S
        elif match["host"] == host:
            orphan = int(match["pid"]) != os.getpid() and not _pid_alive(int(match["pid"]))
        else:
            orphan = age > _ORPHAN_AGE_S
        if orphan:
            try:
                candidate.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    r"""Calls ``write(handle)`` on a temporary file beside ``path``, then makes it ``path`` atomically.

    Args:
        path (str or Path): The target file.
        write (callable): Writes the content into the open handle.
        mode (str): ``"wb"`` or ``"w"``. (default: ``"wb"``)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def atomic_save(obj: Any, path: PathLike) -> None:
    r""":func:`torch.save` of ``obj`` through :func:`atomic_write`."""
    atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_text(text: str, path: PathLike) -> None:
    r"""Writes ``text`` to ``path`` through :func:`atomic_write`."""
    atomic_write(path, lambda handle: handle.write(text), mode="w")


def atomic_copy(source: PathLike, destination: PathLike) -> None:
    r"""Copies ``source`` to ``destination`` through :func:`atomic_write`."""
    def copy(handle):
        with open(source, "rb") as reader:
            while chunk := reader.read(1 << 20):
                handle.write(chunk)
    atomic_write(destination, copy)


def safe_torch_load(path: PathLike, what: str = "file") -> Any:
    r"""Loads a :func:`torch.save` file with ``weights_only=True`` (tensors and plain containers).

    Args:
        path (str or Path): The file.
        what (str): What the file should be, for the error messages. (default: ``"file"``)

    Raises:
        FileNotFoundError: No file at ``path``.
        UnsafeFileError: The file would need code to load; it is refused and nothing in it runs.
        CorruptFileError: The file is empty, truncated or not a :func:`torch.save` file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{what} {path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols its safe unpickler may not know
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        needs = f" (it needs {found.group(1)})" if found else ""
        raise UnsafeFileError(
            f"refusing to load {what} {path}: it would need code to load{needs}; graphdenoise only reads "
            f"files of tensors and plain containers, so a file that runs code was not written by it "
            f"(or was tampered with). Nothing in it was run.") from None
    except Exception as exc:  # a truncated archive, a foreign format
        raise CorruptFileError(f"{what} {path} is unreadable: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else 'truncated or not a torch.save file'}"
                               ) from None


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    r"""The hex sha256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: PathLike) -> Path:
    r"""The sidecar that records ``path``'s sha256: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_checksum(path: PathLike) -> None:
    r"""Records the sha256 of ``path`` in its sidecar (call after ``path`` is complete)."""
    atomic_write_text(sha256_file(path) + "\n", checksum_path(path))


def verify_checksum(path: PathLike) -> Optional[str]:
    r"""``None`` if ``path`` matches its sidecar, else why not (missing, empty, changed bytes)."""
    path, sidecar = Path(path), checksum_path(path)
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    if not sidecar.is_file():
        return f"no checksum file {sidecar.name} (an interrupted write, or written by an older version)"
    expected = sidecar.read_text().strip()
    actual = sha256_file(path)
    if actual != expected:
        return f"its sha256 {actual[:16]}... differs from the recorded {expected[:16]}... (changed or truncated)"
    return None
