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


@pytest.fixture
def two_threads(monkeypatch):
    from instrumentid import util

    monkeypatch.setattr(util, "worker_threads", lambda: 2)
    return util


def test_thread_map_gives_the_serial_results_on_the_same_threads_every_call(two_threads):
    import threading
    import time

    def item(i):
        time.sleep(0.001)
        return i * i, threading.current_thread().name

    first = list(two_threads.thread_map(item, [(i,) for i in range(20)]))
    second = list(two_threads.thread_map(item, [(i,) for i in range(20)]))
    assert [r for r, _ in first] == [r for r, _ in second] == [i * i for i in range(20)]
    names = {n for _, n in first + second}
    assert 1 <= len(names) <= 2 and all(n.startswith("instrumentid") for n in names)  # the pool is kept


def test_thread_map_inside_an_item_runs_in_that_thread(two_threads):
    """A thread_map inside an item must not wait for the pool whose threads are all busy with the outer items."""
    import threading

    def inner(j):
        return threading.current_thread().name

    def outer(i):
        names = list(two_threads.thread_map(inner, [(j,) for j in range(4)]))
        return names == [threading.current_thread().name] * 4

    assert all(two_threads.thread_map(outer, [(i,) for i in range(6)]))


def test_thread_map_stops_with_the_first_error_and_drops_the_rest(two_threads):
    import time

    started = []

    def item(i):
        started.append(i)
        time.sleep(0.01)
        if i == 1:
            raise ValueError("item 1")
        return i

    with pytest.raises(ValueError, match="item 1"):
        list(two_threads.thread_map(item, [(i,) for i in range(50)]))
    n = len(started)
    time.sleep(0.1)
    assert len(started) == n < 50  # nothing runs on after the error reached the caller


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_thread_map_works_in_a_forked_child(two_threads):
    assert list(two_threads.thread_map(lambda i: i + 1, [(1,), (2,), (3,)])) == [2, 3, 4]  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        import signal

        signal.alarm(20)  # a child waiting for its parent's threads (which it does not have) dies instead of hanging
        ok = list(two_threads.thread_map(lambda i: i + 1, [(1,), (2,), (3,)])) == [2, 3, 4]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_one_blas_thread_limits_blas_inside_and_restores_it(monkeypatch):
    import scipy.linalg  # noqa: F401 - every BLAS library one_blas_thread limits, loaded before counting
    from threadpoolctl import threadpool_info

    from instrumentid import util

    monkeypatch.setattr(util, "_worker_limits", None)

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    with util.one_blas_thread():
        assert set(blas_threads().values()) == {1}
        with util.one_blas_thread():
            assert set(blas_threads().values()) == {1}
        assert set(blas_threads().values()) == {1}
    assert blas_threads() == before


_HEAP_CHILD = """
import resource, sys
import numpy as np
from instrumentid.util import steady_heap
steady = sys.argv[1] == "steady" and steady_heap()
faults = []
for _ in range(6):  # six 3 MB arrays written and freed, as an analysis's batch does with its buffers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [np.ones(3 * 2**17) for _ in range(6)]
    del blocks
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(steady, sum(faults[1:]))
"""


def _heap_child(mode: str, **env) -> tuple:
    out = subprocess.run([sys.executable, "-c", _HEAP_CHILD, mode], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc's malloc")
def test_steady_heap_reuses_freed_blocks_and_leaves_the_users_settings():
    steady, faults = _heap_child("steady")
    default, default_faults = _heap_child("default")
    # glibc by default gives the freed 18 MB back to the system (its trim threshold by then: 6 MB, twice the first
    # block it mapped and unmapped) and faults it in again, 4608 pages a round; a steady heap keeps them
    assert steady and not default and faults < 100 < 1000 < default_faults
    steady, faults = _heap_child("steady", MALLOC_TRIM_THRESHOLD_="1000000")  # the user's choice, kept
    assert not steady and faults > 1000
