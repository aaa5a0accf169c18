"""Structure factor of noisy USA particles around the uniform state: an O(1/n) effect with a
closed form (meanfield.particles.compare.structure_factor_study / gibbs_structure_factor)."""

import numpy as np
import pytest

import meanfield as mf
from meanfield.particles.compare import gibbs_structure_factor, structure_factor_study

BETA = 1.0
KAPPA_1 = float(mf.AttentionKernel(BETA).threshold(1))  # beta / I_1(beta)


def _model(kappa, dim=2, beta=BETA, dynamics="usa"):
    return mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=dim, dynamics=dynamics)


def _combined(st, i, j):
    return np.sqrt(st.se[i, j] ** 2 + st.budget[i, j] ** 2)


@pytest.fixture(scope="module")
def circle():
    # kappa = kappa_1 / 2: S_1 -> 2, S_2 -> 1.136; dt = 0.01 keeps the Euler–Maruyama bias
    # (about -4.5 dt in S_1, measured) at ~0.4 standard errors
    return structure_factor_study(_model(0.5 * KAPPA_1), [20, 63, 200], t_average=350.0,
                                  replicas=2, dt=0.01, modes=(1, 2), seed=3)


def test_gibbs_correction_matches_exact_kuramoto():
    # beta = 0: c_1 = -a/(1-a)^3 (exact partition function), c_2 = G_1^2/2, G_1 = a/(1-a)
    g = gibbs_structure_factor(mf.AttentionKernel(0.0), 1.0, 2, (1, 2))
    assert np.allclose(g["prediction"], [2.0, 1.0])
    assert np.allclose(g["correction"], [-4.0, 0.5])
    g3 = gibbs_structure_factor(mf.AttentionKernel(0.0), 1.5, 3, (1,))
    assert np.allclose(g3["prediction"], [2.0]) and np.allclose(g3["correction"], [-4.0])


def test_structure_factor_circle_matches_gibbs_prediction(circle):
    pred = 1.0 / (1.0 - 0.5 * KAPPA_1 / mf.AttentionKernel(BETA).threshold([1, 2]))
    assert np.allclose(circle.prediction, pred, rtol=1e-12)
    for i, n in enumerate(circle.n_values):
        for j in range(2):
            target = circle.prediction[j] + circle.correction[j] / n
            assert abs(circle.estimate[i, j] - target) <= 4 * _combined(circle, i, j), (
                n, j, circle.estimate[i, j], target, circle.se[i, j])
    # the batches are long against the autocorrelation time
    assert np.all(circle.tau < 350.0 / 10 / 5)


def test_structure_factor_slope_is_minus_one(circle):
    assert circle.n_values.max() / circle.n_values.min() >= 10
    expected = circle.fits_predicted[1]["slope"]  # -1 up to the O(c_1/(n S_1)) curvature
    assert abs(expected + 1.0) < 0.05
    assert abs(circle.slope - expected) <= 3 * circle.slope_se, (circle.slope, circle.slope_se)
    assert abs(circle.slope + 1.0) <= 3 * circle.slope_se + abs(expected + 1.0)


def test_structure_factor_sphere_mean():
    kernel = mf.AttentionKernel(BETA)
    kappa = 0.5 * float(kernel.threshold(1, dim=3))
    st = structure_factor_study(_model(kappa, dim=3), [50], t_average=300.0, replicas=2,
                                dt=0.01, modes=(1,), seed=5)
    lam1_over_beta = kernel.coefficients(1, dim=3)[1]  # lambda_1(beta)/beta
    assert st.prediction[0] == pytest.approx(1.0 / (1.0 - kappa * lam1_over_beta), rel=1e-12)
    target = st.prediction[0] + st.correction[0] / 50
    assert abs(st.estimate[0, 0] - target) <= 4 * _combined(st, 0, 0), (st.estimate, st.se)


def test_structure_factor_distinguishes_interaction_strengths(circle):
    # strong interaction (kappa_1/2): clearly not the i.i.d. value S = 1
    i = list(circle.n_values).index(63)
    assert (circle.estimate[i, 0] - 1.0) / circle.se[i, 0] > 5
    # weak interaction (kappa = 0.1): S_1 = 1.06, clearly not 2
    weak = structure_factor_study(_model(0.1), [50], t_average=60.0, replicas=1, dt=0.004,
                                  modes=(1,), seed=7)
    assert weak.prediction[0] == pytest.approx(1.0 / (1.0 - 0.1 / KAPPA_1))
    assert abs(weak.zscore[0, 0]) <= 4
    assert (2.0 - weak.estimate[0, 0]) / weak.se[0, 0] > 8


def test_structure_factor_summary_json_plot(circle, tmp_path):
    import json

    circle.to_json(tmp_path / "sf.json")
    data = json.loads((tmp_path / "sf.json").read_text())
    assert data["expected_slope"] == -1.0 and len(data["estimate"]) == 3
    fig = circle.plot(tmp_path / "sf.png")
    assert (tmp_path / "sf.png").stat().st_size > 0 and len(fig.axes) == 2


@pytest.mark.parametrize("kwargs, model, match", [
    (dict(), _model(1.2 * KAPPA_1), r"kappa_1 = 1\.769"),
    (dict(), _model(0.5, dynamics="sa"), "USA"),
    (dict(), _model(np.inf), "finite"),
    (dict(n_values=[10, 0]), _model(0.5), "n_values"),
    (dict(n_values=[10, 2.5]), _model(0.5), "n_values"),
    (dict(n_values=[]), _model(0.5), "n_values"),
    (dict(modes=(1, 2)), _model(0.5, dim=3), "modes"),
    (dict(modes=(0,)), _model(0.5), "mode"),
    (dict(replicas=0), _model(0.5), "replicas"),
    (dict(t_average=1.0, dt=0.1), _model(0.5), "batches"),
    (dict(dt=-1.0), _model(0.5), "dt"),
])
def test_structure_factor_bad_input(kwargs, model, match):
    kw = dict(n_values=[10], t_average=10.0, dt=0.01)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        structure_factor_study(model, **kw)


def test_structure_factor_bad_model_type():
    with pytest.raises(TypeError, match="MeanFieldModel"):
        structure_factor_study("usa", [10], t_average=10.0)
    zonal = mf.MeanFieldModel(mf.ZonalKernel(lambda t: t), kappa=0.5)
    with pytest.raises(ValueError, match="attention kernel"):
        structure_factor_study(zonal, [10], t_average=10.0)
