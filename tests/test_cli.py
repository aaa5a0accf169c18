"""The command line: files written, table printed, bad arguments refused."""

import json

import numpy as np
import pytest

from meanfield.cli import main


def test_evolve_writes_npz_json_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["evolve", "--beta", "2", "--kappa", "2", "--n-modes", "32", "--t-final", "2",
                 "--saves", "11", "--out", str(out), "--no-progress"])
    assert code == 0
    for name in ("solution.npz", "summary.json", "spacetime.png", "free_energy.png",
                 "amplitudes.png", "checkpoint.npz"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "success" and summary["n_saves"] == 11
    assert abs(summary["mass_drift"]) < 1e-13
    # growth rate of mode 1 at beta=2, kappa=2: I_1(2)/2 - 1/2 (DESIGN.md §1)
    from scipy.special import iv
    assert summary["linear_growth_rates_of_uniform"]["1"] == pytest.approx(iv(1, 2) / 2 - 0.5)
    data = np.load(out / "solution.npz")
    assert data["rho"].shape == (11, 96) and np.allclose(data["mass"], 1.0, atol=1e-13)
    table = capsys.readouterr().out
    assert "|rho_1|" in table and "status: success" in table


def test_demo_defaults_parse():
    from meanfield.cli import build_parser

    args = build_parser().parse_args(["demo"])
    assert (args.beta, args.kappa, args.out) == (3.0, 1.0, "demo_output")


@pytest.mark.parametrize("argv, text", [
    (["evolve", "--kappa", "-1"], "kappa must be > 0"),
    (["evolve", "--n-modes", "0"], "must be > 0"),
    (["evolve", "--dynamics", "xyz"], "invalid choice"),
])
def test_bad_arguments_exit_with_message(argv, text, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert text in capsys.readouterr().err


def test_too_coarse_basis_is_an_error_not_a_traceback(tmp_path, capsys):
    code = main(["evolve", "--beta", "10", "--n-modes", "8", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 2
    assert "too coarse" in capsys.readouterr().err


def test_bifurcate_writes_diagram_and_table(tmp_path, capsys):
    out = tmp_path / "bif"
    code = main(["bifurcate", "--beta", "3", "--range", "0.6:1.5", "--modes", "1,2,3",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    for name in ("diagram.json", "diagram.npz", "diagram.png"):
        assert (out / name).stat().st_size > 0
    text = capsys.readouterr().out
    assert "subcritical" in text and "fold" in text and "first-order" in text
    assert "mode 3: no bifurcation" in text  # kappa_3(3) = 3.13 is outside 0.6:1.5
    d = json.loads((out / "diagram.json").read_text())
    assert len(d["branches"]) == 2


def test_phase_diagram_command(tmp_path, capsys):
    out = tmp_path / "ph"
    code = main(["phase-diagram", "--beta", "2:3:0.5", "--out", str(out), "--no-progress"])
    assert code == 0 and (out / "phase_diagram.png").stat().st_size > 0
    data = json.loads((out / "phase_diagram.json").read_text())
    assert data["kind"] == ["supercritical", "subcritical", "subcritical"]
    assert abs(data["beta_star"] - 2.4469183) < 1e-6
    assert "tricritical" in capsys.readouterr().out


@pytest.mark.parametrize("argv, text", [
    (["bifurcate", "--range", "2:1"], "lo < hi"),
    (["bifurcate", "--modes", "0"], "modes must be integers >= 1"),
    (["bifurcate", "--range", "0.2:0.5", "--modes", "1"], "contain no bifurcation"),
])
def test_bifurcate_bad_arguments(argv, text, capsys, tmp_path):
    code = None
    try:
        code = main(argv + ["--out", str(tmp_path), "--no-progress"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2 and text in capsys.readouterr().err


def test_zonal_dimension_from_the_command_line(tmp_path, capsys):
    # S^3 (dim 4), beta = 1: kappa_1 = beta / lambda_1(beta, 4) (DESIGN.md §1)
    from scipy.special import iv

    out = tmp_path / "z"
    code = main(["bifurcate", "--dim", "4", "--beta", "1", "--range", "2:6", "--modes", "1",
                 "--n-modes", "24", "--out", str(out), "--no-progress"])
    assert code == 0
    d = json.loads((out / "diagram.json").read_text())
    lam1 = 1 * (2 / 1.0) * iv(2, 1.0)  # Gamma(2) (2/beta)^1 I_2(beta)
    assert abs(d["bifurcation_points"][0]["param"] - 1.0 / lam1) < 1e-10
    code = main(["evolve", "--dim", "4", "--beta", "1", "--kappa", "6", "--n-modes", "16",
                 "--t-final", "1", "--saves", "3", "--out", str(tmp_path / "e"),
                 "--no-progress"])
    assert code == 0 and "<P_1>" in capsys.readouterr().out


def test_sphere_from_the_command_line(tmp_path):
    # full S^2: density maps instead of the space-time plot
    out = tmp_path / "s"
    code = main(["evolve", "--sphere", "--beta", "2", "--kappa", "4", "--n-modes", "16",
                 "--t-final", "0.5", "--saves", "3", "--out", str(out), "--no-progress"])
    assert code == 0 and (out / "density_maps.png").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert "SphereBasis" in summary["basis"] and abs(summary["mass_drift"]) < 1e-13
    assert main(["evolve", "--sphere", "--dim", "5", "--out", str(out), "--no-progress"]) == 2
