"""The validation suite (validation/run_all.py --quick) runs and every row passes."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_validation_quick_mode_passes(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "validation" / "run_all.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (tmp_path / "REPORT.md").read_text()
    assert "| FAIL |" not in report and report.count("| PASS |") >= 20
    assert (tmp_path / "figures" / "v03_phase_diagram.png").stat().st_size > 0
