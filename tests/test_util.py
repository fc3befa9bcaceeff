"""instrumentid.util: atomic folders, the clean-up of what killed processes left behind, worker threads."""

import os
import subprocess
import sys

import pytest

from instrumentid.util import atomic_folder, remove_stale


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_folder_publishes_or_leaves_nothing(tmp_path):
    with atomic_folder(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("x")
        assert not (tmp_path / "out").exists() and tmp.name.startswith(f".out.{os.getpid()}.")
    assert (tmp_path / "out" / "a.txt").read_text() == "x"
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "out") as tmp:
        (tmp / "b.txt").write_text("y")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]


def test_stale_folders_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / f".run.{_dead_pid()}.abc123.tmp"
    old = tmp_path / f".run.{_dead_pid()}.def456.old"
    alive = tmp_path / f".run.{os.getppid()}.ghi789.tmp"  # our parent process: alive
    other = tmp_path / ".run.notapid.x.tmp"
    for folder in (dead, old, alive, other):
        folder.mkdir()
    assert sorted(remove_stale(tmp_path / "run")) == sorted([dead, old])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])
    with atomic_folder(tmp_path / "run"):  # every new atomic folder cleans up first
        pass
    assert alive.exists()


def test_worker_threads_is_one_in_a_limited_worker(monkeypatch):
    from instrumentid import util

    monkeypatch.setattr(util, "_worker_limits", None)
    assert util.worker_threads() == util.cpu_count() >= 1
    monkeypatch.setattr(util, "_worker_limits", object())  # what limit_worker_threads leaves in a pool's worker
    assert util.worker_threads() == 1
