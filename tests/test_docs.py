"""The documentation site builds with warnings as errors (what `make docs` runs), and the
docstrings' plain-text mathematics is turned into reStructuredText that docutils accepts."""

import html
import importlib
import inspect
import io
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# key functions and classes, each on its own page, documented where it is defined
KEY_PAGES = {
    "meanfield.evolution.evolve": "function",
    "meanfield.stationary.stationary_state": "function",
    "meanfield.stationary.linear_stability": "function",
    "meanfield.continuation.bifurcation_diagram": "function",
    "meanfield.particles.simulate.simulate_particles": "function",
    "meanfield.sweep.runner.sweep": "function",
    "meanfield.kinetic.evolve_kinetic": "function",
    "meanfield.symbolic.normal_form": "function",
    "meanfield.kernels.AttentionKernel": "class",
    "meanfield.bases.circle.CircleBasis": "class",
}
MODULES = ["meanfield", "meanfield.bases", "meanfield.interactions", "meanfield.causal",
           "meanfield.kinetic", "meanfield.particles", "meanfield.symbolic",
           "meanfield.two_parameter", "meanfield.krylov", "meanfield.sweep"]


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def _words(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", text)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("docs")
    env = dict(os.environ, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                          "html", "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return out / "html"


@pytest.mark.slow
def test_api_pages_of_key_objects(site):
    for name, kind in KEY_PAGES.items():
        page = site / "api" / f"{name}.html"
        assert page.is_file(), name
        text = page.read_text()
        assert f'id="{name}"' in text and f'class="py {kind}"' in text, name
        module, _, attr = name.rpartition(".")
        summary = inspect.getdoc(getattr(importlib.import_module(module), attr)).split("\n")[0]
        assert _words(summary) in _words(_text(page)), name   # the docstring is on the page


@pytest.mark.slow
def test_module_pages_and_reexport_links(site):
    for name in MODULES:
        assert (site / "api" / f"{name}.html").is_file(), name
    top = (site / "api" / "meanfield.html").read_text()
    # mf.evolve is listed on the package page and links to its one page in evolution
    assert 'href="meanfield.evolution.evolve.html#meanfield.evolution.evolve"' in top
    assert 'href="meanfield.sweep.html"' in top        # the package behind mf.sweep, the function


@pytest.mark.slow
def test_guides_notebooks_gallery(site):
    guides = ["evolve", "stationary", "diagrams", "particles", "symbolic", "causal"]
    for name in guides:
        assert "../api/meanfield." in (site / "guide" / f"{name}.html").read_text(), name
    evolve = (site / "guide" / "evolve.html").read_text()
    assert 'href="../api/meanfield.evolution.evolve.html' in evolve
    for page in ["convention", "basis_interface", "interactions", "layers", "ensembles", "sweeps"]:
        assert (site / f"{page}.html").is_file(), page
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 8
    for name in notebooks:
        assert (site / "notebooks" / f"{name}.html").is_file(), name
    assert "mf.evolve" in _text(site / "notebooks" / "01_quickstart.html")
    for image in ["diagram.png", "spacetime.png", "free_energy.png", "v03_phase_diagram.png"]:
        assert (site / "_images" / image).stat().st_size > 1000, image


@pytest.mark.slow
def test_plain_text_math_survives(site):
    # |m|^2 and (..., *grid) are plain text in the docstrings: shown as written (the
    # ellipsis typeset by smartquotes)
    assert "|m|^2 / 2" in _text(site / "api" / "meanfield.particles.observables.energy.html")
    assert "rho (…, *grid) w.r.t." in _text(site / "api" / "meanfield.free_energy.free_energy.html")


# docstring text -> what the reader must see (and markup that must not show as text)
CASES = {
    "bars and stars": ("Amplitudes |rho_1|(t), shape (*batch, n), G*rho and I_|j| rho_j.",
                       ["|rho_1|(t)", "(*batch, n)", "G*rho", "I_|j| rho_j"]),
    "emphasis kept": ("A *zonal* density, **bold** text, ``a|b`` and :math:`x*y`.",
                      ["zonal", "bold", "a|b"], ["*zonal*", "**bold**"]),
    "display after blank": ("The kernel\n\n    G_c(s) = w psi(y),   sigma < s,\n"
                            "    psi(y) = sum_k c y^k\n             = sqrt(c / y) I_1(y)\n\n"
                            "and then text.", ["= sqrt(c / y) I_1(y)", "and then text."]),
    "list under sentence": ("Integrators:\n- noisy: Euler steps\n  x <- x + f dt / |.|\n"
                            "- noiseless: RK4", ["noisy: Euler steps", "/ |.|"]),
    "unclosed definition": ("Two lines\nof text with\n    USA: v = grad(G * rho),\n"
                            "per head, and so on.", ["USA: v = grad(G * rho),", "per head"]),
    "table": ("=====  ===========\nname   value\n=====  ===========\nPre    |y| = r grows\n"
              "=====  ===========", ["|y| = r grows"]),
    "doctest untouched": ("Text |x|.\n\n>>> abs(-2) | 1\n3", [">>> abs(-2) | 1"]),
}


@pytest.fixture(scope="module")
def convert():
    pytest.importorskip("sphinx")
    return runpy.run_path(str(DOCS / "conf.py"))["plain_text_to_rst"]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_plain_text_to_rst_is_clean_rst(case, convert):
    docutils_core = pytest.importorskip("docutils.core")
    source, shown, *hidden = CASES[case]
    rst = "\n".join(convert(source.split("\n")))
    messages = io.StringIO()
    tree = docutils_core.publish_doctree(rst, settings_overrides={
        "warning_stream": messages, "report_level": 2, "halt_level": 5})
    assert messages.getvalue() == "", rst
    text = tree.astext()
    for piece in shown:
        assert piece in text, (piece, rst)
    for markup in hidden[0] if hidden else ():
        assert markup not in text, (markup, rst)     # real emphasis stays emphasis
