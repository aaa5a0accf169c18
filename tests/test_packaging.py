"""The distribution `meanfield-attention` builds as a wheel and an sdist; each installs on
its own (into an empty folder, outside the checkout) and passes a smoke test there.

The builds use the setuptools of the test environment (`pip wheel --no-build-isolation`,
setuptools' own sdist hook), so nothing is downloaded; the installed copy runs with the
test environment's numpy, scipy, ... but its own `meanfield`, which the smoke script checks.
"""

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST_NAME = "meanfield-attention"

# runs in a folder outside the checkout, with only the installed copy on PYTHONPATH
SMOKE = r'''
import importlib, importlib.metadata, pkgutil, sys
from pathlib import Path
import numpy as np
from scipy.special import iv

target = Path(sys.argv[1]).resolve()
import meanfield as mf
assert Path(mf.__file__).resolve().is_relative_to(target), mf.__file__
for info in pkgutil.walk_packages(mf.__path__, "meanfield."):
    if not info.name.endswith("__main__"):
        mod = importlib.import_module(info.name)
        assert Path(mod.__file__).resolve().is_relative_to(target), mod.__file__
dist = importlib.metadata.distribution("meanfield-attention")
assert Path(dist.locate_file("")).resolve() == target, dist.locate_file("")
assert dist.version == mf.__version__
assert dist.entry_points.select(group="console_scripts", name="meanfield")

# rho = 1 + a cos(theta), a small: mode 1 of the USA flow grows at the closed-form rate
# k^2 (g_k - 1/kappa) with g_k = I_k(beta)/beta (Funk-Hecke coefficient of G_beta)
# (fixed-step ETDRK4: error ~3e-9 at dt = 0.05, falling like dt^4; the nonlinear terms
# feed mode 1 at relative order a^2 = 1e-8 times an O(1) coefficient)
beta, kappa, a, t = 1.0, 1.0, 1e-4, 1.0
model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa)
basis = mf.CircleBasis(16)
sol = mf.evolve(model, basis, 1 + a * np.cos(basis.grid), t_final=t, t_eval=[0.0, t], dt=0.02)
ratio = sol.amplitude(1)[-1] / sol.amplitude(1)[0]
exact = np.exp((iv(1, beta) / beta - 1 / kappa) * t)
assert abs(ratio / exact - 1) < 1e-8, (ratio, exact)
print("smoke ok", mf.__version__, ratio, exact)
'''


def _run(cmd, **kwargs):
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    assert run.returncode == 0, f"{cmd}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


def _copy_sources(dest: Path) -> Path:
    """The files git would commit (tracked and untracked-not-ignored), copied to ``dest``."""
    try:
        listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                      cwd=ROOT).stdout.split("\0")
    except (AssertionError, OSError):
        listed = None
    if not listed:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "_build"))
        return dest
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _wheel(src: Path, out: Path) -> Path:
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", "-w", str(out), str(src)])
    (wheel,) = out.glob("meanfield_attention-*.whl")
    return wheel


def _install_and_smoke(wheel: Path, tmp: Path) -> str:
    target = tmp / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
          "--target", str(target), str(wheel)])
    env = {"PYTHONPATH": str(target), "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp), "NUMBA_CACHE_DIR": str(tmp / "numba")}
    (tmp / "smoke.py").write_text(SMOKE)
    out = _run([sys.executable, str(tmp / "smoke.py"), str(target)], cwd=tmp, env=env).stdout
    version = _run([sys.executable, str(target / "bin" / "meanfield"), "--version"], cwd=tmp,
                   env=env).stdout
    assert version.strip() == "meanfield " + out.split()[2]
    return out


def _check_wheel_contents(wheel: Path, src: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(src).as_posix() for p in (src / "meanfield").rglob("*.py")}
    assert sources <= names, sorted(sources - names)          # every module, every subpackage
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert f"Name: {DIST_NAME}\n" in text and "License-Expression: GPL-3.0-or-later" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "docs/", "notebooks/")) for n in names)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="77")
    return _copy_sources(tmp_path_factory.mktemp("src"))


@pytest.mark.slow
def test_wheel_installs_and_runs(sources, tmp_path):
    wheel = _wheel(sources, tmp_path / "dist")
    _check_wheel_contents(wheel, sources)
    assert "smoke ok" in _install_and_smoke(wheel, tmp_path)


@pytest.mark.slow
def test_sdist_builds_a_wheel_that_installs_and_runs(sources, tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
          "print(build_meta.build_sdist(sys.argv[1]))", str(dist)], cwd=sources)
    (sdist,) = dist.glob("meanfield_attention-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    top = f"meanfield_attention-{sdist.name.split('-')[1].removesuffix('.tar.gz')}"
    for needed in ["pyproject.toml", "README.md", "LICENSE", "PKG-INFO", "meanfield/__init__.py"]:
        assert f"{top}/{needed}" in names, needed
    wheel = _wheel(tmp_path / "unpacked" / top, tmp_path / "wheel")
    _check_wheel_contents(wheel, tmp_path / "unpacked" / top)
    assert "smoke ok" in _install_and_smoke(wheel, tmp_path)
