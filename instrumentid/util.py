"""Infrastructure shared by the pipeline: atomic writes of files and folders, and the user's cache folder.

Everything instrumentid writes (figures, models, data sets, run folders, reports) goes through these helpers: the
content is written under a temporary name beside its destination and renamed when complete, so an interrupted
command never leaves a half-written file or folder. Temporary files get the usual permissions (not mkstemp's 0600).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_file",
    "atomic_folder",
    "atomic_write_text",
    "cache_dir",
    "cpu_count",
    "limit_worker_threads",
    "one_blas_thread",
    "package_versions",
    "read_json",
    "remove_stale",
    "steady_heap",
    "thread_map",
    "worker_threads",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds, else delete it.

    Examples
    --------
    >>> with atomic_file("out.json") as tmp:                 # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename; return ``path``."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_folder(final):
    """Yield a fresh temporary folder beside ``final``; replace ``final`` by it if the block succeeds, else delete it.

    The one "write to a temporary folder, then rename" of instrumentid (model folders, data sets, run folders).
    The folder and its sub-folders get the usual permissions (mkdtemp makes them private); an existing ``final``
    is replaced only once the new folder is complete.

    Examples
    --------
    >>> with atomic_folder("runs/lab") as tmp:               # doctest: +SKIP
    ...     (tmp / "run.json").write_text("{}")
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        mode = 0o777 & ~_umask()
        for folder in (tmp, *(p for p in tmp.rglob("*") if p.is_dir())):
            folder.chmod(mode)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, final: Path, *, attempts: int = 20) -> None:
    """Rename the finished folder ``tmp`` to ``final``, moving an existing ``final`` aside first.

    Another process may publish the same folder at the same time (two builds of one cached data set): whoever
    renames last wins, each rename is atomic, and neither fails.
    """
    import errno

    for _ in range(attempts):
        try:
            os.rename(tmp, final)  # fails if final exists (and is not empty)
            return
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                raise
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".old", dir=final.parent))
        try:
            os.replace(final, old / "x")
        except FileNotFoundError:
            pass  # someone else moved it away first: try again
        finally:
            shutil.rmtree(old, ignore_errors=True)
    raise OSError(errno.EBUSY, "another process keeps replacing the folder", str(final))


def remove_stale(final) -> list:
    """Delete the temporary folders that killed processes left beside ``final`` (see :func:`atomic_folder`).

    A temporary folder is named ``.<final name>.<pid>.<random>.tmp`` (or ``.old``); it is stale when no process
    with that id runs any more (a run killed with SIGKILL cannot clean up after itself). Folders of live processes
    are left alone.

    Returns
    -------
    list of Path
        The folders removed.
    """
    final = Path(final)
    removed: list[Path] = []
    if not final.parent.is_dir():
        return removed
    for entry in final.parent.glob(f".{glob.escape(final.name)}.*"):
        parts = entry.name[len(final.name) + 2:].split(".")
        if not entry.is_dir() or len(parts) < 3 or parts[-1] not in ("tmp", "old") or not parts[0].isdigit():
            continue
        if not _process_alive(int(parts[0])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or an id we cannot ask about: leave its folder
    return True


def read_json(path, *, what: str = "JSON"):
    """Parse the JSON file ``path``; a missing or unreadable file is one :class:`ParameterError` naming it.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for the message (``"model config"``, ``"sweep file"``...).
    """
    import json

    from instrumentid.errors import ParameterError

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"no such file: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ParameterError(f"cannot read {str(path)!r} as {what}: {err}") from None


def cpu_count() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else all cores)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: Environment variables that cap the threads of BLAS/OpenMP/numba in a process started afterwards.
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_worker_limits = None  # the worker's threadpoolctl limiter, kept alive for the worker's lifetime


def limit_worker_threads() -> None:
    """Initialize a worker process: one BLAS/OpenMP thread each, so ``jobs`` workers use ``jobs`` cores.

    (Measured: extraction only sped up across processes once each was limited to one thread).
    """
    global _worker_limits
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    import scipy.linalg  # noqa: F401 - load the BLAS libraries first, so that threadpoolctl sees them
    from threadpoolctl import threadpool_limits

    _worker_limits = threadpool_limits(limits=1)


@contextlib.contextmanager
def one_blas_thread():
    """Context manager: BLAS runs on one thread inside (as in a worker of :func:`limit_worker_threads`).

    For code that runs many small matrix products, possibly on several threads of its own (:func:`thread_map`).
    The limit is the process's (threadpoolctl), restored on exit; in a limited worker it is already one.
    """
    if _worker_limits is not None:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """The loaded BLAS libraries as threadpoolctl sees them, found once (0.8 ms a search; a limit with it, 12 us)."""
    import scipy.linalg  # noqa: F401 - load the BLAS libraries first, so that threadpoolctl sees them
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


#: glibc's malloc options (``mallopt``) and what :func:`steady_heap` sets them to: blocks up to 16 MB come from the
#: heap, and up to 32 MB of free memory at its top stays there. glibc's defaults start at 128 KB for both and raise
#: them, up to 32 and 64 MB, only when a block served by ``mmap`` is freed.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
STEADY_HEAP = {_M_MMAP_THRESHOLD: 16 * 2**20, _M_TRIM_THRESHOLD: 32 * 2**20}


@functools.lru_cache(maxsize=1)
def steady_heap() -> bool:
    """Let the C library's ``malloc`` reuse freed blocks of up to 16 MB instead of returning them to the system.

    The analysis allocates and frees arrays of 0.1-10 MB at every step of every batch (FFT buffers, spectra). With
    glibc's adaptive defaults a thread's heap was given back to the system (``madvise``) whenever its free top passed
    twice the largest block seen, and the next batch faulted it in again: about 500 minor page faults a note, a
    fifth of the CPU time of the features spent in the kernel. With the thresholds of :data:`STEADY_HEAP` (values
    glibc's own adaptation reaches when it sees larger blocks) the freed blocks are reused. Nothing computed changes.

    Called by the analysis (feature extraction, note detection) before its work; set once per process, for the whole
    process. A user's own settings (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) are
    left as they are, and so is a C library other than glibc.

    Returns
    -------
    bool
        Whether the options were set.
    """
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):  # not a GNU C library
        libc = ""
    if not libc.startswith("glibc"):
        return False
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all([mallopt(option, value) == 1 for option, value in STEADY_HEAP.items()])


def worker_threads() -> int:
    """Threads one analysis may use: :func:`cpu_count`, or 1 in a worker of :func:`limit_worker_threads`.

    The workers of a pool share the cores already.
    """
    return 1 if _worker_limits is not None else cpu_count()


#: The process's thread pool of :func:`thread_map` (created on first use; a forked child makes its own), its pid and
#: threads.
_pool: tuple | None = None
_pool_lock = threading.Lock()
#: Set in the pool's threads: a :func:`thread_map` inside an item runs its items in that thread (waiting for the
#: pool from a pool thread could leave every thread waiting).
_in_pool = threading.local()


def _mark_pool_thread() -> None:
    _in_pool.active = True


def _thread_pool(threads: int):
    """The process's pool of ``threads`` threads, kept between calls (a forked child makes its own).

    Starting the threads in every call of :func:`thread_map` cost about 1-2 ms a thread: 8 thread starts in a warm
    ``predict`` of a 16 s recording.
    """
    global _pool
    from concurrent.futures import ThreadPoolExecutor

    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != threads:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)  # idle threads of a pool of another size end
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="instrumentid",
                                                              initializer=_mark_pool_thread))
        return _pool[2]


def thread_map(fn, items):
    """``fn(*item)`` for each item of ``items`` (tuples of arguments), in order, on :func:`worker_threads` threads.

    numpy's and scipy's FFTs and array operations release the GIL, so items run side by side on the cores; each
    result is the one the serial loop gives. At most twice as many items as threads are in flight, so memory stays
    that of a few items. One thread (or one item), or a call from inside an item, runs the plain loop. The threads
    are the process's, kept between calls; if the caller stops early (an exception), the items not started are
    dropped and those running are waited for.

    Yields
    ------
    The results, in the order of ``items``.
    """
    items = list(items)
    threads = min(worker_threads(), len(items))
    if threads < 2 or getattr(_in_pool, "active", False):
        yield from (fn(*item) for item in items)
        return
    from collections import deque
    from concurrent.futures import wait

    pool = _thread_pool(worker_threads())
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, *item))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        wait(pending)


def package_versions(distributions) -> dict:
    """Installed versions, read from package metadata (nothing is imported).

    Parameters
    ----------
    distributions : iterable of str, or dict
        Distribution names (``"scikit-learn"``), or a dict of output key -> distribution name
        (``{"sklearn": "scikit-learn"}``); the name ``"python"`` gives the interpreter's version.

    Returns
    -------
    dict
        Key -> version string; distributions that are not installed are left out.
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    if not isinstance(distributions, dict):
        distributions = {name: name for name in distributions}
    out = {}
    for key, dist in distributions.items():
        if dist == "python":
            out[key] = platform.python_version()
            continue
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def cache_dir() -> Path:
    """The user's cache folder for instrumentid (not created here).

    ``$INSTRUMENTID_CACHE``, else the platform's user cache folder (``platformdirs``: ``~/.cache/instrumentid``
    on Linux, honouring ``$XDG_CACHE_HOME``).
    """
    if os.environ.get("INSTRUMENTID_CACHE"):
        return Path(os.environ["INSTRUMENTID_CACHE"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("instrumentid", appauthor=False))
