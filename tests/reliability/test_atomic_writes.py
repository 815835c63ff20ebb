"""Atomic writes: no partial file, orphans of killed writers removed, the user's normal permissions."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest
import torch

from graphdenoise.files import _host_tag, atomic_save, atomic_write, atomic_write_text, remove_orphaned_temporaries


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_follow_the_umask_not_0600(tmp_path):
    previous = os.umask(0o027)
    try:
        atomic_write_text("x", tmp_path / "a.json")
        assert _mode(tmp_path / "a.json") == 0o640
    finally:
        os.umask(previous)
    atomic_save({"x": torch.ones(2)}, tmp_path / "b.pt")
    assert _mode(tmp_path / "b.pt") == 0o666 & ~previous


def test_orphans_of_killed_writers_are_removed_on_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    orphan = tmp_path / f".last.pt.{_host_tag()}-{dead_pid}.abc123.tmp"
    live = tmp_path / f".last.pt.{_host_tag()}-{os.getppid()}.def456.tmp"  # a running writer's file stays
    legacy = tmp_path / ".last.pt.q1w2e3r4.tmp"  # the pid-less names of earlier versions, an hour old
    other = tmp_path / ".other.pt.zz.tmp"
    for path in (orphan, live, legacy, other):
        path.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    atomic_save({"epoch": 1}, tmp_path / "last.pt")
    assert not orphan.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    assert remove_orphaned_temporaries(tmp_path / "last.pt") == 0


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    atomic_write_text("old", tmp_path / "a.txt")

    def fail(handle):
        handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.txt", fail, mode="w")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
