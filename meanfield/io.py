"""Atomic writes: a result file is either the old one or the complete new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _atomic(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
