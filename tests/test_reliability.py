"""Issue 16, "Found, to fix": memory guards, clear errors, no silent acceptance.

Each request below failed on the earlier code (a traceback from deep inside, minutes of work
before failing, or a silently altered answer); now it is refused at the boundary, in well
under a second, by an error that names the argument and what it accepts.
"""

import inspect
import json
import re
import sys
import time
import warnings

import numpy as np
import pytest

import meanfield as mf
from meanfield import continuation, symbolic
from meanfield.bases import circle, sphere, zonal
from meanfield.cli import build_parser, main
from meanfield.particles import simulate as psim
from meanfield.stationary import gibbs_map, stationary_residual


@pytest.fixture(scope="module")
def setup():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    basis = mf.CircleBasis(32)
    return model, basis, mf.initial.von_mises(basis, 6.0)


class _Fast:
    """Context manager asserting that the block ran in under ``limit`` seconds."""

    def __init__(self, limit: float = 1.0):
        self.limit = limit

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.t0
        assert elapsed < self.limit, f"took {elapsed:.2f} s (limit {self.limit} s)"
        return False


# ---------------------------------------------------------------------------------------
# memory guards: refused up front, in under a second, naming the limit and the alternative
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, text", [
    (lambda: mf.CircleBasis(10**9), r"MAX_GRID_SIZE = 16777216: use n_modes <= 5592405"),
    (lambda: mf.SphereBasis(5000), r"MAX_GRID_POINTS = 8388608: use lmax <= 1364"),
    (lambda: mf.SphereBasis(10**5), r"MAX_GRID_POINTS.*ZonalBasis.*spectral"),
    (lambda: mf.ZonalBasis(3, lmax=10**7), r"MAX_OPERATOR_ENTRIES = 16777216.*lmax <= 3343"),
    (lambda: mf.CircleBasis(64, dealias=10**6), r"dealias=1e\+06.*n_modes <= 8\b"),
], ids=["circle-1e9", "sphere-5000", "sphere-1e5", "zonal-1e7", "circle-dealias"])
def test_basis_memory_guard(make, text):
    with _Fast(), pytest.raises(MemoryError, match=text):
        make()


@pytest.mark.parametrize("module, attr, make, largest", [
    (circle, "MAX_GRID_SIZE", lambda n: mf.CircleBasis(n), "n_modes"),
    (sphere, "MAX_GRID_POINTS", lambda n: mf.SphereBasis(n), "lmax"),
    (zonal, "MAX_OPERATOR_ENTRIES", lambda n: mf.ZonalBasis(4, n), "lmax"),
])
def test_basis_limit_is_the_named_constant_and_its_advice_fits(module, attr, make, largest,
                                                                monkeypatch):
    monkeypatch.setattr(module, attr, 4096)
    with pytest.raises(MemoryError, match=attr) as err:
        make(3000)
    most = int(re.search(rf"use {largest} <= (\d+)", str(err.value)).group(1))
    make(most)  # the advice fits ...
    with pytest.raises(MemoryError):  # ... and is the largest that does
        make(most + 1)


# the fixed limit, or 80% of the available memory on a machine with less than 10 GiB free
LIMIT = r"(MAX_RUN_BYTES|80% of the available memory)"


@pytest.mark.parametrize("kw, text", [
    (dict(n=10**8), rf"20.9 GiB.*{LIMIT}.*fewer tokens"),
    (dict(n=10**8, keep="observables", observables=["order_parameter"]), LIMIT),
    (dict(n=10, dim=10**7), rf"10000000 coordinates.*{LIMIT}.*smaller dim"),
    (dict(n=100, dim=10**7), LIMIT),
], ids=["n-1e8", "n-1e8-observables", "dim-1e7", "n100-dim-1e7"])
def test_particle_memory_guard(kw, text):
    with _Fast(), pytest.raises(MemoryError, match=text):
        mf.simulate_particles(beta=1.0, t_final=1.0, dt=0.05, **kw)


def test_particle_limit_is_the_named_constant(monkeypatch):
    monkeypatch.setattr(psim, "MAX_RUN_BYTES", 1 << 20)
    with pytest.raises(MemoryError, match="MAX_RUN_BYTES"):
        mf.simulate_particles(beta=1.0, n=64, t_final=0.1, dt=0.05)


@pytest.mark.parametrize("argv, text", [
    (["particles", "--n", "100000000"], rf"{LIMIT}.*fewer --saves"),
    (["evolve", "--n-modes", "10000000"], "MAX_GRID_SIZE"),
    (["evolve", "--sphere", "--n-modes", "5000"], "MAX_GRID_POINTS"),
    (["bifurcate", "--dim", "3", "--n-modes", "10000000"], "MAX_OPERATOR_ENTRIES"),
])
def test_cli_memory_guard(argv, text, tmp_path, capsys):
    with _Fast(1.5):
        code = main(argv + ["--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("meanfield: error:") and "Traceback" not in err
    assert re.search(text, err), err


# ---------------------------------------------------------------------------------------
# unclear errors
# ---------------------------------------------------------------------------------------
def test_model_and_basis_types(setup):
    model, b, rho = setup
    calls = {
        "evolve": lambda m, bb: mf.evolve(m, bb, rho, 1.0),
        "stationary_state": lambda m, bb: mf.stationary_state(m, bb, rho),
        "linear_stability": lambda m, bb: mf.linear_stability(m, bb, b.forward(rho)),
        "bifurcation_diagram": lambda m, bb: mf.bifurcation_diagram(m, bb),
        "free_energy": lambda m, bb: mf.free_energy(m, bb, rho),
        "interaction_energy": lambda m, bb: mf.interaction_energy(m, bb, rho),
        "stationary_residual": lambda m, bb: stationary_residual(m, bb, rho),
        "gibbs_map": lambda m, bb: gibbs_map(m, bb, rho),
        "first_bifurcation": lambda m, bb: continuation.first_bifurcation(m, bb),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match="model must be a MeanFieldModel.*got str"):
            call("model", b)
        with pytest.raises(TypeError, match=r"basis must be a basis \(CircleBasis.*str"):
            call(model, "basis")  # (None is first_bifurcation's default basis)
        if name != "first_bifurcation":
            with pytest.raises(TypeError, match="basis must be a basis.*NoneType"):
                call(model, None)
    with pytest.raises(TypeError, match="basis must be a basis.*NoneType"):
        mf.entropy(None, rho)


@pytest.mark.parametrize("bounds, exc, text", [
    ((0.2, 1.0, 2.0), ValueError, r"bounds must be a pair \(lo, hi\).*\(0.2, 1.0, 2.0\)"),
    (1.0, ValueError, "bounds must be a pair"),
    ((2.0, 0.2), ValueError, "lo < hi"),
    (("0.2", 2.0), TypeError, "bounds must be a real number, got '0.2'"),
])
def test_bounds(setup, bounds, exc, text):
    model, b, _ = setup
    with pytest.raises(exc, match=text):
        mf.bifurcation_diagram(model, b, "kappa", bounds)
    with pytest.raises(exc, match=text):
        continuation.bifurcation_points_of_uniform(model, b, "kappa", bounds, 1)


def test_modes_must_be_a_sequence(setup):
    model, b, _ = setup
    with pytest.raises(TypeError, match=r"modes must be a sequence of integers, e.g. "
                                        r"modes=\(1,\).*got 1"):
        mf.bifurcation_diagram(model, b, "kappa", (0.6, 1.0), modes=1)
    with pytest.raises(ValueError, match=r"modes must be integers in \[1, 31\], got \(0,\)"):
        mf.bifurcation_diagram(model, b, "kappa", (0.6, 1.0), modes=(0,))


def test_period_beyond_the_basis(setup):
    model, b, rho = setup
    with _Fast(), pytest.raises(ValueError, match=r"period=100 leaves no unknowns.*"
                                                  r"period in \[1, 31\]"):
        mf.stationary_state(model, b, rho, period=100)


@pytest.mark.parametrize("call, name", [
    (lambda m, b, r: mf.stationary_state(m, b, r, tol=-1), "tol"),
    (lambda m, b, r: mf.stationary_state(m, b, r, tol=np.nan), "tol"),
    (lambda m, b, r: mf.linear_stability(m, b, b.forward(r), tol=-1), "tol"),
    (lambda m, b, r: mf.bifurcation_diagram(m, b, "kappa", (0.6, 1), tol=-1), "tol"),
    (lambda m, b, r: mf.bifurcation_diagram(m, b, "kappa", (0.6, 1), refine_tol=0), "refine_tol"),
    (lambda m, b, r: mf.bifurcation_diagram(m, b, "kappa", (0.6, 1), resolution_tol=-1),
     "resolution_tol"),
    (lambda m, b, r: mf.bifurcation_diagram(m, b, "kappa", (0.6, 1), amplitude0=0),
     "amplitude0"),
    (lambda m, b, r: mf.bifurcation_diagram(m, b, "kappa", (0.6, 1), ds_max=-1), "ds_max"),
    (lambda m, b, r: mf.evolve(m, b, r, 1.0, rtol=-1), "rtol"),
    (lambda m, b, r: mf.evolve(m, b, r, 1.0, atol=-1), "atol"),
    (lambda m, b, r: mf.evolve(m, b, r, 1.0, resolution_tol=0), "resolution_tol"),
    (lambda m, b, r: mf.evolve(m, b, r, 1.0, positivity_tol=-1), "positivity_tol"),
], ids=["stationary-tol", "stationary-tol-nan", "stability-tol", "diagram-tol",
        "diagram-refine_tol", "diagram-resolution_tol", "diagram-amplitude0", "diagram-ds_max",
        "evolve-rtol", "evolve-atol", "evolve-resolution_tol", "evolve-positivity_tol"])
def test_tolerances_are_named(setup, call, name):
    model, b, rho = setup
    with _Fast(), pytest.raises(ValueError, match=rf"^{name} must be a (finite )?number >=? 0"):
        call(model, b, rho)


def test_integer_arguments_are_named(setup):
    model, b, rho = setup
    with pytest.raises(TypeError, match="max_steps must be an integer"):
        mf.evolve(model, b, rho, 1.0, max_steps=1.5)
    with pytest.raises(ValueError, match="max_points must be an integer >= 2"):
        mf.bifurcation_diagram(model, b, "kappa", (0.6, 1.0), max_points=1)
    with pytest.raises(TypeError, match="t_final must be a real number, got '1'"):
        mf.evolve(model, b, rho, "1")
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got 0"):
        mf.stationary_state(model, b, rho, max_iter=0)


def test_symbolic_normal_form_large_dim():
    with _Fast(), pytest.raises(ValueError, match=r"dim=1000000 is beyond "
                                                  r"meanfield.symbolic.MAX_BESSEL_DIM = 40"):
        symbolic.normal_form(mf.AttentionKernel(3.0), dim=10**6)
    with _Fast(), pytest.raises(ValueError, match="MAX_BESSEL_DIM"):
        symbolic.thresholds("attention", 2, dim=41)
    # polynomial kernels have no such limit: kappa = kappa_1 (1 + d/(d+2) a^2)
    assert symbolic.normal_form("kuramoto", dim=10**6).c == symbolic.sp.Rational(10**6,
                                                                                10**6 + 2)


def test_gegenbauer_does_not_recurse_per_degree():
    depth = len(inspect.stack())
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 150)  # the old recursion needed one level per degree
    try:
        p = symbolic.gegenbauer(300, 7)
    finally:
        sys.setrecursionlimit(old)
    assert p.degree() == 300 and p.eval(1) == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "3", None])
def test_normal_form_kind_values(value):
    nf = symbolic.normal_form("attention", mode=1)
    with pytest.raises(ValueError, match=rf"kind\(\) needs finite real parameter values: "
                                         rf"beta={value!r}"):
        nf.kind(beta=value)
    assert nf.kind(beta=3.0) == "subcritical"


def test_cli_out_is_a_file_or_cannot_be_created(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    for command in (["evolve"], ["particles"], ["bifurcate"], ["phase-diagram"]):
        with _Fast(1.5):  # before any computation
            assert main(command + ["--out", str(afile), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"--out {afile}: is a file, not a folder" in err and "Traceback" not in err
        with _Fast(1.5):
            assert main(command + ["--out", str(afile / "sub"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"--out {afile / 'sub'}: cannot create the output folder" in err


def test_cli_negative_ranges_parse(tmp_path, capsys):
    args = build_parser().parse_args(["bifurcate", "--range", "-1:2"])
    assert args.range == (-1.0, 2.0)
    args = build_parser().parse_args(["phase-diagram", "--beta", "-1:2:0.5"])
    assert args.beta == (-1.0, 2.0, 0.5)
    assert build_parser().parse_args(["evolve", "--beta", "-3"]).beta == -3.0
    # a negative kappa range reaches the library's message, not argparse's
    assert main(["bifurcate", "--range", "-1:2", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "bounds for kappa must be > 0, got (-1.0, 2.0)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# silent acceptance
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("modes, text", [
    ((1.5,), r"modes must hold integers in \[1, 31\], got \(1.5,\) \(1.5 is not an integer\)"),
    ((1, 1), r"modes must not repeat a mode, got \(1, 1\) \(mode 1 twice\)"),
    ((True,), "True is not an integer"),
])
def test_modes_refused_not_altered(setup, modes, text):
    model, b, _ = setup
    with _Fast(), pytest.raises(ValueError, match=text):
        mf.bifurcation_diagram(model, b, "kappa", (0.6, 1.0), modes=modes)
    from meanfield.particles.compare import gibbs_structure_factor

    with pytest.raises(ValueError, match=text.replace("31", "1000")):
        gibbs_structure_factor(mf.AttentionKernel(1.0), 0.5, modes=modes)


@pytest.mark.parametrize("ds", [0, 0.0, np.nan, np.inf])
def test_ds_must_be_nonzero(setup, ds):
    model, b, _ = setup
    with _Fast(), pytest.raises(ValueError, match=r"ds must be a finite nonzero number"):
        mf.bifurcation_diagram(model, b, "kappa", (0.6, 1.0), modes=(1,), ds=ds)


def test_complex_densities_are_refused(setup):
    model, b, rho = setup
    with pytest.raises(ValueError, match=r"rho0 must be real.*max \|imag\| = 0.001"):
        mf.evolve(model, b, rho + 1e-3j, 1.0)
    with pytest.raises(ValueError, match="guess must be real"):
        mf.stationary_state(model, b, rho + 1e-3j)
    with pytest.raises(ValueError, match="rho must be real"):
        mf.free_energy(model, b, rho + 1e-3j)
    with pytest.raises(ValueError, match=r"x0 must be real \(token coordinates\)"):
        mf.simulate_particles(beta=1.0, x0=np.array([[1, 0], [0, 1j]]), t_final=0.1, dt=0.01)
    with pytest.raises(ValueError, match="density must be real"):
        mf.simulate_particles(beta=1.0, n=3, init="density", density=np.ones(96) + 1j,
                              t_final=0.1, dt=0.01)
    # an exactly real complex array is taken as it is, without numpy's ComplexWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = mf.evolve(model, b, np.ones(b.shape, dtype=complex), 0.1)
    assert sol.success


def test_cli_particle_times_outside_the_run(tmp_path, capsys):
    out = tmp_path / "p"
    with _Fast(1.5):
        code = main(["particles", "--dim", "3", "--n", "8", "--t-final", "1", "--times",
                     "0,50", "--out", str(out), "--no-progress"])
    assert code == 2
    assert "--times must lie in [0, t_final=1], got 50" in capsys.readouterr().err
    # times inside the run are saved exactly (not replaced by the nearest save time)
    code = main(["particles", "--dim", "3", "--n", "8", "--t-final", "1", "--saves", "3",
                 "--times", "0,0.25,1", "--out", str(out), "--no-progress"])
    assert code == 0
    t = json.loads((out / "summary.json").read_text())["t"]
    assert 0.25 in t


@pytest.mark.parametrize("name", ["beta", "kappa", "t_final", "dt", "coupling"])
def test_particle_numbers_given_as_strings(name):
    kw = dict(beta=1.0, kappa=10.0, t_final=0.1, dt=0.01, coupling=1.0)
    kw[name] = str(kw[name])
    with pytest.raises(TypeError, match=rf"{name} must be a real number, got '"):
        mf.simulate_particles(n=4, **kw)


def test_beta_given_as_a_string():
    with pytest.raises(TypeError, match=r"beta must be a finite real number, got '3' \(str\)"):
        mf.AttentionKernel("3")


def test_kappa_given_as_a_string():
    with pytest.raises(TypeError, match="kappa"):
        mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa="1")


def test_a_negative_step_reports_no_spurious_fold():
    # issue 16: ds=-0.1 ran back through the pitchfork onto the mirror branch and reported
    # a second "fold" at kappa_1 = 0.758846 with amplitude 1.5e-5
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    for ds in (0.1, -0.1):
        d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.2, 2.0), modes=(1,),
                                   ds=ds)
        assert [round(f.param, 10) for f in d.folds] == [0.7502601061]


def test_phase_diagram_at_large_beta_gives_the_tiny_thresholds():
    # issue 16: phase_diagram([20.0]) failed with "kappa must be > 0, got -5.3e-07" (an
    # internal difference step left the domain); kappa_1 = beta / I_1(beta) (DESIGN §1)
    from scipy.special import iv

    with pytest.warns(UserWarning):  # kappa_c is not followed down to 1e-7 (stated)
        pd = mf.phase_diagram([20.0, 40.0])
    assert np.allclose(pd.kappa_1, [20.0 / iv(1, 20.0), 40.0 / iv(1, 40.0)], rtol=1e-9)


def test_spectral_summation_on_s2_is_bit_identical_between_runs():
    # issue 16: ducc0 with a varying thread count gave differences of 9e-16 between runs
    runs = [mf.simulate_particles(beta=2.0, n=400, dim=3, method="spectral", t_final=0.2,
                                  dt=0.02, seed=3, kappa=20.0).x for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
