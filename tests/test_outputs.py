"""Output folders (issue 16): a manifest of what each run wrote, no mixed runs, the usual
file modes, and a quick validation run that leaves the committed report alone."""

from __future__ import annotations

import importlib
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from meanfield import io, manifest
from meanfield.cli import main

ROOT = Path(__file__).resolve().parents[1]
EVOLVE = ["evolve", "--beta", "1", "--kappa", "4", "--n-modes", "16", "--t-final", "0.05",
          "--saves", "3", "--no-progress"]
PARTICLES = ["particles", "--n", "16", "--t-final", "0.1", "--saves", "2", "--no-progress"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_results_get_the_usual_file_modes(tmp_path):
    old = os.umask(0o022)
    try:
        npz = io.save_npz(tmp_path / "a.npz", x=np.arange(3))
        js = io.write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert _mode(npz) == _mode(js) == 0o644  # mkstemp alone gives 0600


def test_a_rerun_replaces_the_previous_run_instead_of_mixing(tmp_path, capsys):
    assert main(EVOLVE + ["--sphere", "--out", str(tmp_path)]) == 0
    first = manifest.read(tmp_path)
    assert first["command"] == "evolve" and first["status"] == "complete"
    assert "density_maps.png" in first["files"] and "solution.npz" in first["files"]
    for name, size in first["files"].items():
        assert (tmp_path / name).stat().st_size == size
    assert first["argv"][-2:] == ["--out", str(tmp_path)]
    assert main(EVOLVE + ["--out", str(tmp_path)]) == 0  # the circle: no S^2 density maps
    second = manifest.read(tmp_path)
    assert second["removed"] == ["density_maps.png"]
    assert not (tmp_path / "density_maps.png").exists()
    assert set(second["files"]) == {p.name for p in tmp_path.iterdir()} - {"manifest.json"}


def test_another_command_is_refused_unless_overwrite(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")  # a user's file: never touched
    assert main(EVOLVE + ["--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(PARTICLES + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds the results of `meanfield evolve`" in err and "--overwrite" in err
    assert manifest.read(tmp_path)["command"] == "evolve"  # nothing ran
    assert main(PARTICLES + ["--out", str(tmp_path), "--overwrite"]) == 0
    data = manifest.read(tmp_path)
    assert data["command"] == "particles"
    assert not (tmp_path / "solution.npz").exists()  # evolve's results went first
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(data["files"]) == sorted(p.name for p in tmp_path.iterdir()
                                           if p.name not in ("manifest.json", "notes.txt"))


def test_a_failed_rerun_keeps_the_previous_files_listed(tmp_path):
    with manifest.Run(tmp_path, "evolve", ["evolve"]):
        (tmp_path / "a.png").write_text("1")
    with pytest.raises(RuntimeError), manifest.Run(tmp_path, "evolve", ["evolve"]):
        (tmp_path / "b.png").write_text("2")
        raise RuntimeError("boom")
    data = manifest.read(tmp_path)
    assert data["status"] == "failed" and data["removed"] == []
    assert set(data["files"]) == {"a.png", "b.png"}
    with pytest.raises(KeyboardInterrupt), manifest.Run(tmp_path, "evolve", ["evolve"]):
        raise KeyboardInterrupt
    assert manifest.read(tmp_path)["status"] == "interrupted"


def test_checkpoints_are_never_removed_as_stale(tmp_path):
    with manifest.Run(tmp_path, "evolve", ["evolve"]):
        (tmp_path / "checkpoint.npz").write_text("state")
    with manifest.Run(tmp_path, "evolve", ["evolve"]):
        pass
    assert (tmp_path / "checkpoint.npz").exists()
    assert "checkpoint.npz" in manifest.read(tmp_path)["files"]


def test_default_output_folders_differ_per_command():
    from meanfield.cli import build_parser

    parser = build_parser()
    outs = {cmd: parser.parse_args([cmd]).out for cmd in
            ("evolve", "bifurcate", "phase-diagram", "particles")}
    assert len(set(outs.values())) == 4


def test_quick_validation_leaves_the_committed_report_alone(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "validation"))
    try:
        run_all = importlib.import_module("run_all")
    finally:
        sys.path.remove(str(ROOT / "validation"))
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setattr(run_all, "scripts", lambda: [])
    assert run_all.main(["--quick"]) == 0
    assert (tmp_path / "quick" / "REPORT.md").exists()
    assert not (tmp_path / "REPORT.md").exists()
    text = (tmp_path / "quick" / "REPORT.md").read_text()
    assert "quick" in text.lower()
