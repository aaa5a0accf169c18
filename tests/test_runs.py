"""Runs a user can trust: fixed steps that are too large say so, interrupted runs resume to
the uninterrupted result (SIGINT and SIGTERM, API and command line), checkpoints are not
overwritten, killed writes leave nothing behind; the front door (--version, python -m
meanfield, CITATION.cff, consistent defaults)."""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import meanfield as mf
from meanfield import io
from meanfield.cli import build_parser, main
from meanfield.evolution import read_checkpoint
from meanfield.timestepping import RK4, integrate

ROOT = Path(__file__).resolve().parents[1]
UNDER = "ignore:the solution became under-resolved"


@pytest.fixture(scope="module")
def issue_run():
    """The issue's setting: beta = 3, kappa = 1, 32 modes, rho_0 perturbed uniform."""
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    basis = mf.CircleBasis(32)
    return model, basis, mf.initial.perturbed_uniform(basis, 0.1, seed=0)


# -- a wrong answer reported as success -------------------------------------------------------
@pytest.mark.filterwarnings(UNDER)
def test_one_step_across_the_run_warns_and_says_so(issue_run):
    model, basis, rho0 = issue_run
    with pytest.warns(UserWarning, match=r"time step dt=20 is too large for the dynamics.*"
                                         r"differ by 2\.6e-02.*adaptive run"):
        sol = mf.evolve(model, basis, rho0, 20.0, t_eval=[0, 20], dt=20.0, adaptive=False)
    assert sol.status == "success"  # it did reach t = 20, but:
    assert sol.amplitude(1)[-1] == pytest.approx(0.153, abs=1e-3)  # converged: 0.911
    assert sol.step_error == pytest.approx(2.6e-2, rel=0.05)
    assert "time step dt=20 is too large" in sol.message
    assert sol.summary()["step_error"] == sol.step_error
    ref = mf.evolve(model, basis, rho0, 20.0, t_eval=[0, 20])
    assert ref.amplitude(1)[-1] == pytest.approx(0.911421, abs=1e-6) and np.isnan(ref.step_error)
    with pytest.warns(UserWarning, match=r"time step dt=10 is too large"):
        mf.evolve(model, basis, rho0, 20.0, t_eval=[0, 20], dt=10.0)


@pytest.mark.filterwarnings(UNDER)
def test_a_fine_fixed_step_passes_its_check(issue_run):
    model, basis, rho0 = issue_run
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "the time step")
        sol = mf.evolve(model, basis, rho0, 20.0, t_eval=[0, 10, 20], dt=0.1)
    assert sol.success and sol.message == "" and sol.step_error < 1e-4
    assert sol.amplitude(1)[-1] == pytest.approx(0.911421, abs=1e-6)


@pytest.mark.parametrize("dt, t_fail", [(5.0, 15.0), (2.0, 10.0)])
def test_failure_blames_the_step_not_the_resolved_modes(issue_run, dt, t_fail):
    model, basis, rho0 = issue_run
    sol = mf.evolve(model, basis, rho0, 20.0, t_eval=[0, 20], dt=dt)
    assert sol.status == "failed" and f"lost positivity at t={t_fail:g}" in sol.message
    assert "the time step is too large" in sol.message and "decrease dt" in sol.message
    assert "increase the number of modes" not in sol.message
    assert sol.max_tail < 1e-15  # the modes resolve the state (4e-18 in the issue)


def test_failure_of_too_few_modes_still_blames_the_modes():
    model = mf.MeanFieldModel(mf.AttentionKernel(5.0))
    b = mf.CircleBasis(16)
    with pytest.warns(UserWarning, match="under-resolved"):
        sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b, 0.5), 2.0,
                        np.linspace(0, 2, 201), resolution_tol=1.0, dt=0.01)
    assert sol.status == "failed" and "increase the number of modes" in sol.message
    assert "time step is too large" not in sol.message


def test_fixed_step_error_estimates_are_cheap():
    s = RK4(-1.0, lambda u: -u**2)
    res = integrate(s, np.array([1.0]), np.linspace(0, 2, 101), dt=0.02, estimate_error=True)
    assert res.nfev == 4 * res.n_steps + 4 * 2 * res.step_errors.shape[0]
    assert 5 <= res.step_errors.shape[0] <= 0.1 * res.n_steps + 2  # <= ~20% more steps
    assert res.step_errors[-1, 0] == pytest.approx(2 - 0.02) and np.all(res.step_errors[:, 1]
                                                                       < 1e-8)
    plain = integrate(RK4(-1.0, lambda u: -u**2), np.array([1.0]), np.linspace(0, 2, 101),
                      dt=0.02)
    assert np.array_equal(plain.u, res.u) and plain.step_errors.shape == (0, 2)


# -- interrupted runs ---------------------------------------------------------------------------
def _interrupt_after(t_stop):
    def progress(t):
        if t > t_stop:
            raise KeyboardInterrupt

    return progress


@pytest.mark.filterwarnings(UNDER)
@pytest.mark.parametrize("kw", [dict(dt=0.05), dict(), dict(method="imex-ars443", rtol=1e-6)],
                         ids=["fixed", "adaptive", "adaptive-imex"])
def test_resumed_run_equals_the_uninterrupted_one(tmp_path, issue_run, kw):
    model, basis, rho0 = issue_run
    t_eval = np.linspace(0.5, 12, 24)  # t = 0 not requested: dropped from the result
    whole = mf.evolve(model, basis, rho0, 12.0, t_eval, **kw)
    ck = tmp_path / "ck.npz"
    with pytest.raises(KeyboardInterrupt):
        mf.evolve(model, basis, rho0, 12.0, t_eval, checkpoint=ck, checkpoint_every=0,
                  progress=_interrupt_after(5.2), **kw)
    saved = read_checkpoint(ck)
    assert saved["status"] == "interrupted" and saved["t"][-1] == 5.0
    if "dt" not in kw:
        assert np.isfinite(saved["h_next"]) and np.isfinite(saved["err_prev"])
    with pytest.raises(ValueError, match=r"unfinished run.*saved up to t=5 of 12.*resume="):
        mf.evolve(model, basis, rho0, 12.0, t_eval, checkpoint=ck, **kw)
    assert read_checkpoint(ck)["t"][-1] == 5.0  # not overwritten
    rest = mf.evolve(model, basis, rho0, 12.0, t_eval, resume=ck, **kw)
    assert rest.success and np.array_equal(rest.t, whole.t)
    assert np.max(np.abs(rest.coeffs - whole.coeffs)) <= 1e-12
    assert (rest.n_steps, rest.n_rejected) == (whole.n_steps, whole.n_rejected)
    assert read_checkpoint(ck)["status"] == "success"
    again = mf.evolve(model, basis, rho0, 12.0, t_eval, resume=ck, **kw)  # finished: as is
    assert np.array_equal(again.coeffs, whole.coeffs) and again.n_steps == whole.n_steps


def test_resume_refuses_another_run(tmp_path, issue_run):
    model, basis, rho0 = issue_run
    ck = tmp_path / "ck.npz"
    with pytest.raises(KeyboardInterrupt):
        mf.evolve(model, basis, rho0, 4.0, [0, 1, 2, 3, 4], dt=0.1, checkpoint=ck,
                  checkpoint_every=0, progress=_interrupt_after(1.5))
    other = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=2.0)
    with pytest.raises(ValueError, match=r"different run \(model .*kappa=1\.0.* there"):
        mf.evolve(other, basis, rho0, 4.0, [0, 1, 2, 3, 4], dt=0.1, resume=ck)
    with pytest.raises(ValueError, match=r"dt 0\.1 there, 0\.2 here"):
        mf.evolve(model, basis, rho0, 4.0, [0, 1, 2, 3, 4], dt=0.2, resume=ck)
    with pytest.raises(ValueError, match=r"save times"):
        mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 3, 4], dt=0.1, resume=ck)
    with pytest.raises(ValueError, match=r"rho0 differs"):
        mf.evolve(model, basis, mf.initial.perturbed_uniform(basis, 0.1, seed=1), 4.0,
                  [0, 1, 2, 3, 4], dt=0.1, resume=ck)
    with pytest.raises(ValueError, match=r"no such checkpoint"):
        mf.evolve(model, basis, rho0, 4.0, dt=0.1, resume=tmp_path / "none.npz")
    failed = tmp_path / "failed.npz"
    sol = mf.evolve(model, basis, rho0, 20.0, [0, 20], dt=5.0, checkpoint=failed)
    assert not sol.success
    with pytest.raises(ValueError, match=r"the run failed .*time step is too large"):
        mf.evolve(model, basis, rho0, 20.0, [0, 20], dt=5.0, resume=failed)
    mf.evolve(model, basis, rho0, 1.0, dt=0.1, checkpoint=failed)  # a failed one: overwritten


def _load_io():
    """meanfield/io.py alone (numpy only): a child process that starts in a fraction of a s."""
    spec = importlib.util.spec_from_file_location("mf_io", ROOT / "meanfield" / "io.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHILD = """
import importlib.util, sys, time
import numpy as np
spec = importlib.util.spec_from_file_location("mf_io", sys.argv[1])
io = importlib.util.module_from_spec(spec); spec.loader.exec_module(io)
def stalled(fh, **arrays):  # half of the file written, then SIGKILL
    fh.write(b"x" * 100000); fh.flush(); print("writing", flush=True); time.sleep(60)
np.savez = stalled
io.save_npz(sys.argv[2], t=np.arange(3.0))
"""


def test_a_write_killed_by_sigkill_leaves_no_temporary_for_good(tmp_path):
    target = tmp_path / "run.npz"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT / "meanfield" / "io.py"),
                              str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.kill()  # SIGKILL: no cleanup runs
        child.wait(10)
    left = list(tmp_path.glob(".run.npz.*.tmp"))
    assert len(left) == 1 and f".pid{child.pid}." in left[0].name and not target.exists()
    legacy = tmp_path / ".run.npz.k2j4x9_a.tmp"  # an old-style name, two days old
    legacy.write_bytes(b"x")
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)
    in_flight = tmp_path / f".run.npz.pid{os.getpid()}.other.tmp"  # a live writer's
    in_flight.write_bytes(b"x")
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_bytes(b"x")
    io.save_npz(target, t=np.arange(3.0))
    assert np.array_equal(np.load(target)["t"], np.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [in_flight.name, unrelated.name, "run.npz"])
    assert _load_io().clean_stale_temporaries(target) == []


def _wait_for_checkpoint(path, proc, t_min, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        try:
            saved = read_checkpoint(path)
            if saved["status"] == "running" and saved["t"][-1] >= t_min:
                return saved
        except (ValueError, KeyError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint beyond t={t_min} within {timeout} s")


def test_cli_sigint_and_sigterm_then_resume(tmp_path):
    """python -m meanfield evolve: Ctrl-C, then SIGTERM during the resumed run; both exit
    cleanly with the checkpoint written; a rerun without --resume is refused; the second
    resume completes with the uninterrupted result."""
    out = tmp_path / "run"
    args = ["evolve", "--beta", "3", "--kappa", "1", "--n-modes", "32", "--t-final", "10",
            "--saves", "51", "--dt", "0.004", "--checkpoint-every", "0", "--no-progress",
            "--out", str(out)]
    cmd = [sys.executable, "-W", "ignore", "-m", "meanfield", *args]
    env = dict(os.environ, MPLBACKEND="Agg")
    ck = out / "checkpoint.npz"

    def interrupted(extra, t_min, sig, code):
        proc = subprocess.Popen(cmd + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        try:
            _wait_for_checkpoint(ck, proc, t_min)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == code, err
        assert "Traceback" not in err and "--resume" in err, err
        saved = read_checkpoint(ck)
        assert saved["status"] == "interrupted" and saved["t"][-1] >= t_min
        return err, saved

    err, first = interrupted([], 1.0, signal.SIGINT, 130)
    assert "interrupted by Ctrl-C" in err
    before = ck.read_bytes()
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 2 and "--resume" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and ck.read_bytes() == before
    err, second = interrupted(["--resume"], first["t"][-1] + 1.0, signal.SIGTERM, 143)
    assert "interrupted by SIGTERM" in err and np.array_equal(
        second["coeffs"][:first["t"].size], first["coeffs"])
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.perturbed_uniform(basis, 0.1, max_degree=4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = mf.evolve(model, basis, rho0, 10.0, np.linspace(0, 10, 51), dt=0.004)
    data = np.load(out / "solution.npz")
    assert np.array_equal(data["t"], whole.t)
    assert np.max(np.abs(data["coeffs"] - whole.coeffs)) <= 1e-12
    assert read_checkpoint(ck)["n_steps"] == whole.n_steps


def test_cli_checkpoint_options_parse():
    args = build_parser().parse_args(["evolve", "--checkpoint-every", "0", "--resume"])
    assert (args.checkpoint_every, args.resume, args.dt) == (0.0, True, None)
    args = build_parser().parse_args(["evolve", "--resume", "elsewhere/ck.npz", "--dt", "0.1"])
    assert (args.resume, args.dt) == ("elsewhere/ck.npz", 0.1)


def test_cli_resume_without_a_checkpoint(tmp_path, capsys):
    assert main(["evolve", "--resume", "--out", str(tmp_path), "--no-progress"]) == 2
    assert f"--resume: no checkpoint at {tmp_path / 'checkpoint.npz'}" in capsys.readouterr().err


# -- the front door -----------------------------------------------------------------------------
def test_version_and_python_dash_m():
    res = subprocess.run([sys.executable, "-m", "meanfield", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == f"meanfield {mf.__version__}"
    assert build_parser().format_help().startswith("usage: meanfield [-h] [--version]")
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0


def test_citation_file():
    text = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^cff-version: 1\.2\.0$", text, flags=re.M)
    assert re.search(rf'^version: "{re.escape(mf.__version__)}"$', text, flags=re.M)
    for key in ("message", "title", "authors", "license", "type"):
        assert re.search(rf"^{key}:", text, flags=re.M), key
    version = re.search(r'^version = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version.group(1) == mf.__version__
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(text)["authors"][0]["name"]


def test_particles_default_to_usa_like_the_rest(tmp_path, capsys):
    for command in (["particles"], ["evolve"], ["bifurcate"]):
        assert build_parser().parse_args(command).dynamics == "usa"
    ps = mf.simulate_particles(beta=3.0, n=4, t_final=0.01, dt=1e-3, seed=0)
    assert ps.params["dynamics"] == "usa"
    with pytest.raises(SystemExit):
        main(["particles", "--help"])
    assert re.search(r"usa \(default,\s+as in evolve", capsys.readouterr().out)
    # the default step respects USA's stability limit at beta = 3 (1e-2 would be refused)
    assert main(["particles", "--n", "16", "--t-final", "0.1", "--saves", "2", "--out",
                 str(tmp_path), "--no-progress"]) == 0
    import json

    params = json.loads((tmp_path / "summary.json").read_text())["params"]
    assert params["dynamics"] == "usa" and params["dt"] == 0.005
    # where the limit depends on the tokens (Peri-LN), the default step is lowered to it
    capsys.readouterr()
    assert main(["particles", "--dim", "64", "--n", "128", "--normalization", "peri-ln",
                 "--t-final", "0.02", "--saves", "2", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    assert "default step is lowered to dt=0.00096" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # an explicit --dt is not changed
        build_parser().parse_args(["particles", "--dt", "0"])
    assert main(["particles", "--dim", "64", "--n", "128", "--normalization", "peri-ln",
                 "--dt", "0.005", "--t-final", "0.02", "--out", str(tmp_path)]) == 2
    assert "too large for normalization='peri-ln'" in capsys.readouterr().err


def test_readme_three_cluster_claim_matches_the_thresholds():
    from meanfield import symbolic

    k1, k2, k3 = (float(k) for k in symbolic.thresholds(mf.AttentionKernel(3.0), 3, 2))
    assert 0.2 < k1 < k2 < 2.0 < k3
    readme = (ROOT / "README.md").read_text()
    assert "1-, 2- and 3-cluster branches" not in readme
    assert f"kappa_3 = {k3:.4f}" in readme and f"kappa_2 = {k2:.4f}" in readme
