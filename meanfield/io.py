"""Atomic writes: a result file is either the old one or the complete new one, never half;
temporaries left by killed writers are removed (:func:`clean_stale_temporaries`)."""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

STALE_AGE = 24 * 3600.0
"""Seconds after which a temporary file of an atomic write counts as abandoned whatever
its writer (one whose writer process is gone is removed at once)."""


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temporaries(path: str | os.PathLike, max_age: float = STALE_AGE) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes of ``path`` left behind.

    An atomic write goes through ``.<name>.pid<PID>.<random>.tmp`` beside ``path``; a
    writer killed by SIGKILL (or a power cut) cannot remove it. Such a file is removed when
    process PID no longer exists, and any of them once older than ``max_age`` seconds.
    Called by every write of this module; returns the files removed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from meanfield.io import clean_stale_temporaries
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     left = Path(tmp) / ".run.npz.pid999999999.x1y2.tmp"  # its writer is gone
    ...     _ = left.write_bytes(b"half a file")
    ...     print([p.name for p in clean_stale_temporaries(Path(tmp) / "run.npz")])
    ['.run.npz.pid999999999.x1y2.tmp']
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:pid(\d+)\.)?.+\.tmp")
    removed = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        match = pattern.fullmatch(tmp.name)
        if match is None:
            continue
        try:
            age = now - tmp.stat().st_mtime
        except OSError:
            continue
        pid = match.group(1)
        if age > max_age or (pid is not None and int(pid) != os.getpid()
                             and not _alive(int(pid))):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def _umask() -> int:
    """The process's file-creation mask (read without changing it for good)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.pid{os.getpid()}.",
                               suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results get the usual modes
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_npz(path: str | os.PathLike, **arrays) -> Path:
    """Write arrays to ``path`` (.npz) atomically.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from meanfield.io import save_npz
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_npz(Path(tmp) / "out" / "run.npz", t=np.arange(3.0))
    ...     print(path.name, np.load(path)["t"])
    run.npz [0. 1. 2.]
    """
    return _atomic(path, lambda fh: np.savez(fh, **arrays))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return "inf" if obj > 0 else ("-inf" if obj < 0 else "nan")
    return obj


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy types and inf/nan made portable).

    Examples
    --------
    >>> import json
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from meanfield.io import write_json
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_json(Path(tmp) / "r.json", {"x": np.arange(2), "kappa": np.inf})
    ...     print(json.loads(path.read_text()))
    {'x': [0, 1], 'kappa': 'inf'}
    """
    text = json.dumps(_jsonable(obj), indent=2) + "\n"
    return _atomic(path, lambda fh: fh.write(text.encode()))
