"""What a command wrote into its output folder: ``manifest.json``, and no mixed runs.

Every ``meanfield`` command with ``--out DIR`` records in ``DIR/manifest.json`` the command,
its arguments, the version, the start and end times (UTC, ISO 8601), its status and the files
it wrote (names relative to DIR, with sizes in bytes). The manifest is what keeps runs apart:

* a folder whose manifest names a *different* command is refused before anything runs (the
  message names the command found and the two ways out: another ``--out``, or
  ``--overwrite``, which first removes the files that manifest lists);
* a rerun of the *same* command replaces the previous run: files the previous run wrote and
  this one did not (say ``density_maps.png`` of an S^2 run when the rerun is on the circle)
  are removed once the new run has succeeded, so the folder never mixes two runs. Checkpoints
  are kept (an unfinished run's checkpoint is what ``--resume`` continues).

Files in the folder that no manifest lists (a user's own) are never touched.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

NAME = "manifest.json"
KEEP = ("checkpoint",)  # name prefixes never removed as stale


def _entries(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (mtime_ns, size)} of every plain file under folder (recursively)."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out[path.relative_to(folder).as_posix()] = (st.st_mtime_ns, st.st_size)
    return out


def read(folder: str | os.PathLike) -> dict | None:
    """The manifest of ``folder`` as a dict, or None where there is none (or it is unreadable).

    Examples
    --------
    >>> import tempfile
    >>> from meanfield import manifest
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(manifest.read(tmp))
    None
    """
    try:
        with open(Path(folder) / NAME) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Run:
    """One command's use of an output folder: checked on entry, recorded on exit.

    Parameters
    ----------
    folder : path
        The output folder (created by the caller).
    command : str
        The command's name (``"evolve"``, ``"particles"``, ...).
    argv : sequence of str
        The command line, recorded as given.
    overwrite : bool
        Replace a previous run of another command in the folder (remove the files its manifest
        lists) instead of refusing.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from meanfield import manifest
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with manifest.Run(tmp, "evolve", ["evolve", "--sphere"]):
    ...         _ = (Path(tmp) / "density_maps.png").write_text("S^2")
    ...         _ = (Path(tmp) / "summary.json").write_text("{}")
    ...     with manifest.Run(tmp, "evolve", ["evolve"]):  # circle: no density maps
    ...         _ = (Path(tmp) / "summary.json").write_text("{}")
    ...     print(sorted(p.name for p in Path(tmp).iterdir()))
    ...     print(manifest.read(tmp)["removed"])
    ...     try:
    ...         manifest.Run(tmp, "particles", ["particles"]).__enter__()
    ...     except ValueError as err:
    ...         print(str(err).split(": ", 1)[1][:60])
    ['manifest.json', 'summary.json']
    ['density_maps.png']
    holds the results of `meanfield evolve` (see its manifest.js
    """

    def __init__(self, folder: str | os.PathLike, command: str, argv: Sequence[str],
                 overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.command = str(command)
        self.argv = [str(a) for a in argv]
        self.overwrite = bool(overwrite)
        self.previous = read(self.folder)
        self.exit_status = 0  #: the command's exit status, set by the caller

    def __enter__(self) -> Run:
        prev = self.previous
        if prev is not None and prev.get("command") != self.command:
            if not self.overwrite:
                raise ValueError(
                    f"--out {self.folder}: holds the results of `meanfield {prev.get('command')}` "
                    f"(see its {NAME}); this `meanfield {self.command}` run would mix with "
                    "them: give another --out, or --overwrite to remove them first")
            self._remove(prev.get("files", {}), keep_checkpoints=False)
            self.previous = None
        self.before = _entries(self.folder)
        self.started = time.time()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        after = _entries(self.folder)
        written = {name: size for name, (mtime, size) in after.items()
                   if name != NAME and self.before.get(name, (None,))[0] != mtime}
        if exc_type is None:
            status = "complete" if not self.exit_status else f"exit status {self.exit_status}"
        else:
            status = ("interrupted" if issubclass(exc_type, KeyboardInterrupt | SystemExit)
                      else "failed")
        removed = []
        files = dict(written)
        if self.previous is not None:
            old = {k: v for k, v in self.previous.get("files", {}).items() if k not in written}
            if status == "complete":
                removed = self._remove(old, keep_checkpoints=True)
                files.update({k: v for k, v in old.items() if k not in removed and
                              (self.folder / k).exists()})
            else:  # an unfinished rerun keeps the previous run's files listed
                files.update({k: v for k, v in old.items() if (self.folder / k).exists()})
        from . import __version__, io

        io.write_json(self.folder / NAME, {
            "command": self.command, "argv": self.argv, "version": __version__,
            "started": _iso(self.started), "finished": _iso(time.time()), "status": status,
            "files": dict(sorted(files.items())), "removed": removed})

    def _remove(self, files, *, keep_checkpoints: bool) -> list[str]:
        removed = []
        for name in sorted(files):
            if keep_checkpoints and Path(name).name.startswith(KEEP):
                continue
            path = self.folder / name
            if path.is_file() and self.folder.resolve() in path.resolve().parents:
                path.unlink()
                removed.append(name)
        return removed


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
