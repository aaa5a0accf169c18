"""Symbolic derivation (sympy) of the stationary systems, thresholds and normal forms.

Convention (DESIGN.md §1): densities w.r.t. the normalized measure sigma, potential G with
Funk–Hecke coefficients g_l (attention kernel: g_l = lambda_l(beta)/beta, l >= 1), noise
(1/kappa) Lap. In the zonal class on S^{d-1} (d = 2: even densities on the circle) a
density is described by its moments b_l = <P_l(x.e)> = int rho P_l d sigma (P_l the
Gegenbauer polynomial with P_l(1) = 1; on the circle b_k = rho_k = <cos k theta>), and

    rho = sum_l N_l b_l P_l,   P_m P_l = sum_n L(m, l, n) P_n,

with N_l the dimension of the degree-l harmonics and L the (exact, rational) linearization
coefficients. Projecting the USA equation on P_l and integrating by parts
(grad f . grad g = (Lap(fg) - f Lap g - g Lap f)/2) gives the quadratic moment system

    d b_l/dt = -(lam_l/kappa) b_l
               + (1/2) sum_{n,k} g_n N_n L(n, l, k) (lam_l + lam_n - lam_k) b_n b_k,

lam_l = l(l+d-2), b_0 = 1. ``fourier_system`` returns it divided by lam_l (the scaling the
numerical Newton solver of :mod:`meanfield.stationary` uses), so both share residuals and
Jacobians; on the circle it is the quadratic system k rho_k = kappa sum_j j g_|j| rho_j rho_{k-j}.

``normal_form`` performs the Lyapunov–Schmidt reduction of rho = e^{kappa G*rho}/Z at the
bifurcation of mode m to cubic order, in the amplitude a = <P_m>:

    kappa = kappa_m (1 + c1 a + c a^2 + ...),    kappa_m = 1/g_m,

with c1 = -(1/2) N_m L(m,m,m) (nonzero: transcritical) and

    c = 1/2 N_m - N_m^3 <P_m^4>/6 - sum_{n != m} N_m^3 L(m,m,n)^2 r_n / (2 N_n (1 - r_n)),

r_n = g_n/g_m. On the circle, m = 1: c = (1 - 2 r_2)/(2 (1 - r_2)), which changes sign at
I_2(beta)/I_1(beta) = 1/2 (beta_* = 2.4469...); on S^{d-1}: at r_2 = 1/d.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from .kernels import AttentionKernel, Kernel, KuramotoKernel, ZonalKernel

kappa = sp.Symbol("kappa", positive=True)
beta = sp.Symbol("beta", real=True)
t = sp.Symbol("t", real=True)

KERNEL_NAMES = ("attention", "kuramoto", "generic")
#: the attention kernel's Bessel coefficients I_{l+d/2-1} are handled exactly up to this dim
#: (sympy's simplification grows fast with d: ~1-6 s for a normal form at d = 40, minutes
#: beyond 50, a RecursionError at d = 10^6); polynomial kernels have no such limit
MAX_BESSEL_DIM = 40


# ---------------------------------------------------------------------------------------
# Gegenbauer algebra (exact)
# ---------------------------------------------------------------------------------------


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    return int(dim)


@lru_cache(maxsize=64)
def gegenbauer(l: int, dim: int) -> sp.Poly:
    """Normalized Gegenbauer polynomial P_l^{(d)}(t), P_l(1) = 1, exact rational coefficients.

    d = 2: Chebyshev T_l; d = 3: Legendre P_l. Recurrence
    P_{l+1} = ((2l + d - 2) t P_l - l P_{l-1}) / (l + d - 2).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> symbolic.gegenbauer(2, 3).as_expr()  # Legendre P_2
    3*t**2/2 - 1/2
    >>> symbolic.gegenbauer(2, 2).as_expr()  # Chebyshev T_2
    2*t**2 - 1
    """
    dim = _check_dim(dim)
    if l == 0:
        return sp.Poly(1, t, domain="QQ")
    if isinstance(l, bool) or not isinstance(l, int | np.integer) or l < 0:
        raise ValueError(f"l must be an integer >= 0, got {l!r}")
    if l == 1:
        return sp.Poly(t, t, domain="QQ")
    for j in range(2, l - 1, 32):  # fill the cache bottom-up: no recursion deeper than 32
        gegenbauer(j, dim)
    p_prev, p = gegenbauer(l - 2, dim), gegenbauer(l - 1, dim)
    m = l - 1
    return (sp.Poly(sp.Rational(2 * m + dim - 2, m + dim - 2) * t, t) * p
            - sp.Rational(m, m + dim - 2) * p_prev)


def harmonic_dimension(l: int, dim: int):
    """N(d, l): dimension of the degree-l spherical harmonics on S^{d-1} (so <P_l^2> = 1/N).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> symbolic.harmonic_dimension(2, 3), symbolic.harmonic_dimension(3, 2)  # 2l + 1; 2
    (5, 2)
    """
    dim = _check_dim(dim)
    if l == 0:
        return sp.Integer(1)
    if dim == 2:
        return sp.Integer(2)
    return sp.Rational(2 * l + dim - 2, l + dim - 2) * sp.binomial(l + dim - 2, l)


@lru_cache(maxsize=256)
def linearization(m: int, l: int, dim: int) -> dict[int, sp.Rational]:
    """Exact L(m, l, n) with P_m P_l = sum_n L(m, l, n) P_n (n = |m-l|, ..., m+l).

    Examples
    --------
    On S^2: ``t * t = 1/3 + (2/3) P_2(t)``:

    >>> from meanfield import symbolic
    >>> symbolic.linearization(1, 1, 3)
    {0: 1/3, 2: 2/3}
    """
    rest = gegenbauer(m, dim) * gegenbauer(l, dim)
    out: dict[int, sp.Rational] = {}
    for n in range(m + l, -1, -1):
        coeff = rest.coeff_monomial(t**n)
        if coeff != 0:
            lead = gegenbauer(n, dim).coeff_monomial(t**n)
            out[n] = sp.nsimplify(coeff / lead)
            rest = rest - gegenbauer(n, dim) * out[n]
    return {n: v for n, v in sorted(out.items()) if v != 0}


def _lam(l: int, dim: int) -> int:
    return l * (l + dim - 2)


# ---------------------------------------------------------------------------------------
# kernel coefficients as sympy expressions
# ---------------------------------------------------------------------------------------


def _attention_g(l: int, dim: int, b) -> sp.Expr:
    """g_l = lambda_l(b)/b (l >= 1), (lambda_0 - 1)/b (l = 0), lambda_l = Gamma(d/2)(2/b)^(d/2-1)
    I_{l+d/2-1}(b)."""
    half = sp.Rational(dim, 2)
    lam = sp.gamma(half) * (2 / b) ** (half - 1) * sp.besseli(l + half - 1, b)
    return (lam - 1) / b if l == 0 else lam / b


def kernel_coefficients(kernel, lmax: int, dim: int = 2) -> list[sp.Expr]:
    """Funk–Hecke coefficients g_0..g_lmax of the potential as sympy expressions.

    kernel : "attention" (symbolic beta), "kuramoto", "generic" (symbols W_l), an
        AttentionKernel / KuramotoKernel instance (numeric beta kept exact as a Float),
        a ZonalKernel built from coefficients, or a sympy expression / callable W(t)
        that is a polynomial in t (expanded exactly in Gegenbauer polynomials).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> symbolic.kernel_coefficients("attention", 1)  # circle: (I_0 - 1)/beta, I_1/beta
    [(besseli(0, beta) - 1)/beta, besseli(1, beta)/beta]
    >>> symbolic.kernel_coefficients(lambda t: t**2, 2)  # cos^2 = 1/2 + cos(2 theta)/2
    [1/2, 0, 1/2]
    """
    dim = _check_dim(dim)
    if isinstance(lmax, bool) or not isinstance(lmax, int | np.integer) or lmax < 0:
        raise ValueError(f"lmax must be an integer >= 0, got {lmax!r}")
    if isinstance(kernel, str):
        if kernel not in KERNEL_NAMES:
            raise ValueError(f"kernel must be one of {KERNEL_NAMES} or a Kernel, got {kernel!r}")
    bessel = ((isinstance(kernel, str) and kernel == "attention")
              or (isinstance(kernel, AttentionKernel) and kernel.beta != 0))
    if bessel and dim > MAX_BESSEL_DIM:
        raise ValueError(
            f"dim={dim} is beyond meanfield.symbolic.MAX_BESSEL_DIM = {MAX_BESSEL_DIM} for the "
            "attention kernel (sympy simplifies its Bessel coefficients I_(l+d/2-1) exactly, "
            "at a cost growing fast with dim); use dim <= "
            f"{MAX_BESSEL_DIM}, or the numeric AttentionKernel(beta).threshold(l, dim) and "
            "continuation.first_bifurcation(model, ZonalBasis(dim, lmax)) for larger dim")
    if isinstance(kernel, str):
        if kernel == "attention":
            return [_attention_g(l, dim, beta) for l in range(lmax + 1)]
        if kernel == "kuramoto":
            kernel = KuramotoKernel()
        else:
            return [sp.Symbol(f"W_{l}", real=True) for l in range(lmax + 1)]
    if isinstance(kernel, AttentionKernel):
        b = sp.Float(kernel.beta, 30)
        if kernel.beta == 0:
            kernel = KuramotoKernel()
        else:
            return [_attention_g(l, dim, b) for l in range(lmax + 1)]
    if isinstance(kernel, KuramotoKernel):
        return [sp.Rational(1, dim) if l == 1 else sp.Integer(0) for l in range(lmax + 1)]
    if isinstance(kernel, ZonalKernel) and getattr(kernel, "W", None) is None:
        g = kernel.coefficients(lmax, dim)
        return [sp.Float(float(v), 30) for v in g]
    if isinstance(kernel, Kernel):
        kernel = getattr(kernel, "W", None)
    return _polynomial_coefficients(kernel, lmax, dim)


def _polynomial_coefficients(W, lmax: int, dim: int) -> list[sp.Expr]:
    expr = W(t) if callable(W) else sp.sympify(W)
    try:
        poly = sp.Poly(sp.expand(expr), t)
    except (sp.PolynomialError, sp.GeneratorsNeeded, TypeError, ValueError):
        poly = None
    if poly is None or not poly.free_symbols <= {t}:
        raise ValueError(f"sympy cannot expand W(t) = {expr} exactly in Gegenbauer polynomials: "
                         "give a polynomial in t, or use the 'attention' kernel "
                         "(e^{beta t}, with Bessel coefficients)")
    # project: g_l = <W(x.e) P_l> N_l ... via the expansion W = sum w_n P_n, then g_l = w_l
    rest, out = poly, {}
    for n in range(poly.degree(), -1, -1):
        coeff = rest.coeff_monomial(t**n)
        if coeff != 0:
            w = coeff / gegenbauer(n, dim).coeff_monomial(t**n)
            out[n] = w
            rest = rest - gegenbauer(n, dim) * w
    return [sp.nsimplify(out.get(l, 0)) for l in range(lmax + 1)]


# ---------------------------------------------------------------------------------------
# the stationary system
# ---------------------------------------------------------------------------------------


@dataclass
class FourierSystem:
    """The truncated stationary system R(b) = 0 (moment / Fourier coefficients).

    Attributes
    ----------
    residuals : list of sympy expressions
        R_l = (d b_l/dt) / lam_l for the unknowns' degrees (the scaling of the numerical
        solver): zero exactly at stationary states.
    unknowns : list of sympy Symbols
        b_l (moments <P_l>; on the circle rho_l = <cos l theta>) or, with subspace="full"
        on the circle, x_k, y_k = Re, Im rho_k.
    params : list of sympy Symbols
        kappa and the kernel's free symbols (beta, W_l).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
    >>> fs.unknowns, fs.params
    ([b_1, b_2], [kappa])
    >>> fs.residuals
    [-b_1*b_2/2 + b_1/2 - b_1/kappa, b_1**2/4 - b_2/kappa]
    """

    residuals: list
    unknowns: list
    params: list
    dim: int
    subspace: str
    g: list = field(repr=False, default_factory=list)

    @property
    def equations(self) -> list:
        """The residuals as sympy equations ``R_l = 0``.

        Examples
        --------
        >>> from meanfield import symbolic
        >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
        >>> fs.equations[1]
        Eq(b_1**2/4 - b_2/kappa, 0)
        """
        return [sp.Eq(r, 0) for r in self.residuals]

    def jacobian(self) -> sp.Matrix:
        """Jacobian matrix dR/db (sympy Matrix) of the residuals in the unknowns.

        Examples
        --------
        >>> from meanfield import symbolic
        >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
        >>> fs.jacobian().tolist()
        [[-b_2/2 + 1/2 - 1/kappa, -b_1/2], [b_1/2, -1/kappa]]
        """
        return sp.Matrix(self.residuals).jacobian(self.unknowns)

    def latex(self) -> str:
        """The system as a LaTeX ``aligned`` block.

        Examples
        --------
        >>> from meanfield import symbolic
        >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
        >>> print(fs.latex())
        \\begin{aligned}
        - \\frac{b_{1} b_{2}}{2} + \\frac{b_{1}}{2} - \\frac{b_{1}}{\\kappa} &= 0 \\\\
        \\frac{b_{1}^{2}}{4} - \\frac{b_{2}}{\\kappa} &= 0
        \\end{aligned}
        """
        return "\\begin{aligned}\n" + " \\\\\n".join(
            sp.latex(r) + " &= 0" for r in self.residuals) + "\n\\end{aligned}"

    def pretty(self) -> str:
        """The equations as sympy's 2-D text rendering, one after the other.

        Examples
        --------
        >>> from meanfield import symbolic
        >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
        >>> text = fs.pretty()
        >>> text.count("= 0"), "κ" in text
        (2, True)
        """
        return "\n".join(sp.pretty(e) for e in self.equations)

    def lambdify(self):
        """numpy functions residual(x, *params) and jacobian(x, *params).

        Examples
        --------
        The uniform state b = 0 solves the system; its Jacobian there is diagonal with entries
        ``g_l - 1/kappa`` (here g = (0, 1/2, 0) at kappa = 4):

        >>> from meanfield import symbolic
        >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
        >>> residual, jacobian = fs.lambdify()
        >>> residual([0.0, 0.0], 4.0)
        array([0., 0.])
        >>> jacobian([0.0, 0.0], 4.0)
        array([[ 0.25, -0.  ],
               [ 0.  , -0.25]])
        """
        modules = [{"besseli": _besseli_numpy}, "numpy"]
        r = sp.lambdify([self.unknowns, *self.params], self.residuals, modules=modules)
        j = sp.lambdify([self.unknowns, *self.params], self.jacobian(), modules=modules)

        def residual(x, *p):
            return np.asarray(r(list(x), *p), dtype=float)

        def jacobian(x, *p):
            return np.asarray(j(list(x), *p), dtype=float)
        return residual, jacobian


def _besseli_numpy(nu, x):
    from scipy.special import iv

    return iv(nu, x)


def _params(g: list) -> list:
    free = set().union(*(sp.sympify(e).free_symbols for e in g)) - {t}
    return [kappa] + sorted(free, key=lambda s: s.name)


def fourier_system(kernel, n_modes: int, dim: int = 2, subspace: str = "even",
                   period: int | None = None) -> FourierSystem:
    """The stationary USA system truncated at degree ``n_modes``, exactly in sympy.

    Parameters
    ----------
    kernel : see :func:`kernel_coefficients`.
    n_modes : int
        Highest degree N kept (unknowns b_1..b_N, or the multiples of ``period``).
    dim : int
        Sphere S^{dim-1}; dim = 2 is the circle.
    subspace : {"even", "full", "k-periodic"}
        "even": moments (cosine series on the circle, zonal class on spheres); "full":
        complex Fourier coefficients on the circle (real and imaginary parts; the rotation
        makes its Jacobian singular along rho_k -> i k rho_k); "k-periodic": even densities
        with only degrees in period * Z (circle only: on spheres only period 2, even in t).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> fs = symbolic.fourier_system("kuramoto", 2)  # circle, g = (0, 1/2, 0)
    >>> fs.residuals  # R_l = (d b_l/dt) / l^2
    [-b_1*b_2/2 + b_1/2 - b_1/kappa, b_1**2/4 - b_2/kappa]
    >>> len(symbolic.fourier_system("attention", 4, subspace="k-periodic", period=2).unknowns)
    2
    """
    dim = _check_dim(dim)
    if isinstance(n_modes, bool) or not isinstance(n_modes, int | np.integer) or n_modes < 1:
        raise ValueError(f"n_modes must be an integer >= 1, got {n_modes!r}")
    if subspace not in ("even", "full", "k-periodic"):
        raise ValueError(f"subspace must be 'even', 'full' or 'k-periodic', got {subspace!r}")
    g = kernel_coefficients(kernel, n_modes, dim)
    if subspace == "full":
        if dim != 2:
            raise ValueError("subspace='full' is the circle's complex Fourier system (dim=2)")
        return _full_circle_system(g, n_modes)
    step = 1
    if subspace == "k-periodic":
        step = int(period or 0)
        if step < 1:
            raise ValueError("subspace='k-periodic' needs period >= 1")
        if dim > 2 and step not in (1, 2):
            raise ValueError("on spheres (dim > 2) only period 2 (even in t) is invariant")
        if n_modes < step:
            raise ValueError(f"n_modes={n_modes} is below the period {step}: no unknowns")
    degrees = list(range(step, n_modes + 1, step))
    b = {0: sp.Integer(1)}
    b.update({l: sp.Symbol(f"b_{l}", real=True) for l in degrees})
    N = [harmonic_dimension(l, dim) for l in range(n_modes + 1)]
    residuals = []
    for l in degrees:
        acc = sp.Integer(0)
        for n in b:
            if n == 0 or g[n] == 0:
                continue
            for k, L in linearization(n, l, dim).items():
                if k in b:
                    acc += g[n] * N[n] * L * (_lam(l, dim) + _lam(n, dim) - _lam(k, dim)) \
                        * b[n] * b[k]
        residuals.append(sp.expand(-b[l] / kappa + acc / (2 * _lam(l, dim))))
    unknowns = [b[l] for l in degrees]
    return FourierSystem(residuals, unknowns, _params(g), dim, subspace, g)


def _full_circle_system(g: list, n: int) -> FourierSystem:
    """k rho_k = kappa sum_j j g_|j| rho_j rho_{k-j}, |j|, |k-j| <= n, split in Re / Im."""
    x = {k: sp.Symbol(f"x_{k}", real=True) for k in range(1, n + 1)}
    y = {k: sp.Symbol(f"y_{k}", real=True) for k in range(1, n + 1)}

    def rho(j):
        if j == 0:
            return sp.Integer(1)
        if j > 0:
            return x[j] + sp.I * y[j]
        return x[-j] - sp.I * y[-j]

    res_re, res_im = [], []
    for k in range(1, n + 1):
        s = sum((j * g[abs(j)] * rho(j) * rho(k - j) for j in range(-n, n + 1)
                 if j != 0 and abs(k - j) <= n), sp.Integer(0))
        # RHS_k / k^2 = -rho_k/kappa + (1/k) sum_j j g_|j| rho_j rho_{k-j}
        r = sp.expand(-rho(k) / kappa + s / k)
        res_re.append(sp.re(r))
        res_im.append(sp.im(r))
    unknowns = [x[k] for k in x] + [y[k] for k in y]
    return FourierSystem(res_re + res_im, unknowns, _params(g), 2, "full", g)


def thresholds(kernel, n_modes: int, dim: int = 2) -> list[sp.Expr]:
    """kappa_l = 1/g_l for l = 1..n_modes (attention: beta / lambda_l(beta); d = 2: beta/I_l).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> symbolic.thresholds("attention", 2)  # circle: beta / I_l(beta)
    [beta/besseli(1, beta), beta/besseli(2, beta)]
    >>> symbolic.thresholds("kuramoto", 2, dim=3)  # kappa_1 = d; mode 2 never unstable
    [3, oo]
    """
    g = kernel_coefficients(kernel, n_modes, dim)
    return [sp.simplify(1 / g[l]) if g[l] != 0 else sp.oo for l in range(1, n_modes + 1)]


def dispersion_relation(kernel, n_modes: int, dim: int = 2) -> list[sp.Expr]:
    """Growth rates sigma_l = l(l+d-2)(g_l - 1/kappa) of the linearized evolution at rho = 1.

    Examples
    --------
    >>> from meanfield import symbolic
    >>> symbolic.dispersion_relation("kuramoto", 2)  # circle: k^2 (g_k - 1/kappa)
    [1/2 - 1/kappa, -4/kappa]
    """
    g = kernel_coefficients(kernel, n_modes, dim)
    return [_lam(l, dim) * (g[l] - 1 / kappa) for l in range(1, n_modes + 1)]


# ---------------------------------------------------------------------------------------
# the normal form
# ---------------------------------------------------------------------------------------


@dataclass
class NormalForm:
    """Lyapunov–Schmidt reduction at the bifurcation of mode ``mode`` from rho = 1.

    kappa = kappa_m (1 + c1 a + c a^2 + ...), a = <P_m(x.e)> (circle: |rho_m|).

    Examples
    --------
    >>> from meanfield import symbolic
    >>> nf = symbolic.normal_form("kuramoto", mode=1)
    >>> nf.kappa_m, nf.c1, nf.c  # kappa = 2 (1 + a^2/2 + ...)
    (2, 0, 1/2)
    """

    mode: int
    dim: int
    kappa_m: sp.Expr
    c1: sp.Expr
    c: sp.Expr
    coupled: dict  # n -> L(m, m, n): the modes the quadratic interaction excites
    params: list

    @property
    def branch(self) -> sp.Expr:
        """The truncated branch ``kappa(a) = kappa_m (1 + c1 a + c a^2)`` (sympy, in ``a``).

        Examples
        --------
        >>> from meanfield import symbolic
        >>> symbolic.normal_form("kuramoto", mode=1).branch
        a**2 + 2
        """
        a = sp.Symbol("a", real=True)
        return self.kappa_m * (1 + self.c1 * a + self.c * a**2)

    def resonances(self) -> list[sp.Expr]:
        """Conditions g_n = g_m (kappa_n = kappa_m) for the excited modes n: there the
        reduction is degenerate (two modes critical at once).

        Examples
        --------
        >>> from meanfield import symbolic
        >>> symbolic.normal_form("attention", mode=1).resonances()  # g_2 = g_1
        [Eq(besseli(2, beta)/beta, besseli(1, beta)/beta)]
        """
        return [sp.Eq(self._g[n], self._g[self.mode]) for n in self.coupled
                if n not in (0, self.mode)]

    def kind(self, **values) -> str:
        """'transcritical', 'supercritical', 'subcritical' or 'degenerate' at numeric
        parameter values (e.g. beta=3.0), decided at 30 digits.

        Examples
        --------
        For attention on the circle the pitchfork of mode 1 turns subcritical at beta_* = 2.4469...:

        >>> from meanfield import symbolic
        >>> nf = symbolic.normal_form("attention", mode=1)
        >>> nf.kind(beta=2.0), nf.kind(beta=3.0)
        ('supercritical', 'subcritical')
        """
        for name, v in values.items():
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"kind() needs finite real parameter values: {name}={v!r}")
        subs = {p: values[p.name] for p in self.params if p.name in values}
        missing = [p.name for p in self.params if p.name not in values and p != kappa]
        if missing:
            raise ValueError(f"kind() needs values for {missing}")
        for n in self.coupled:
            if n not in (0, self.mode):
                gap = sp.N((self._g[n] - self._g[self.mode]).subs(subs), 30)
                if abs(gap) < 1e-25 * max(1, abs(sp.N(self._g[self.mode].subs(subs), 30))):
                    return "degenerate"
        c1 = sp.N(self.c1.subs(subs), 30)
        if c1 != 0:
            return "transcritical"
        c = sp.N(self.c.subs(subs), 30)
        if not c.is_finite:
            return "degenerate"
        if abs(c) < 1e-25:
            return "degenerate"
        return "supercritical" if c > 0 else "subcritical"

    def __float__(self) -> float:  # pragma: no cover - convenience
        return float(self.c)

    def latex(self) -> str:
        """The normal form as a LaTeX formula.

        Examples
        --------
        >>> from meanfield import symbolic
        >>> print(symbolic.normal_form("kuramoto", mode=1).latex())  # doctest: +ELLIPSIS
        \\kappa(a) = \\kappa_{1}\\left(1 + 0\\,a + \\left(\\frac{1}{2}\\right) a^2 + ...
        """
        return (f"\\kappa(a) = \\kappa_{{{self.mode}}}\\left(1 + {sp.latex(self.c1)}\\,a + "
                f"\\left({sp.latex(self.c)}\\right) a^2 + O(a^3)\\right),\\quad "
                f"\\kappa_{{{self.mode}}} = {sp.latex(self.kappa_m)},\\quad "
                f"a = \\langle P_{{{self.mode}}}(x\\cdot e)\\rangle")

    _g: list = field(default_factory=list, repr=False)


def normal_form(kernel, mode: int = 1, dim: int = 2) -> NormalForm:
    """Cubic normal form of the bifurcation of mode ``mode`` from the uniform state.

    Returns c1 (quadratic: nonzero means transcritical) and c (cubic) in
    kappa = kappa_m (1 + c1 a + c a^2 + ...), as sympy expressions in the kernel's
    coefficients (``float(nf.c)`` for a numeric kernel). See the module docstring for the
    formula; on the circle mode 1: c = (1 - 2 r)/(2 (1 - r)), r = g_2/g_1.

    Examples
    --------
    >>> from meanfield import symbolic
    >>> symbolic.normal_form("kuramoto", mode=1).c  # kappa = 2 (1 + r^2/2): r^2 ~ kappa - 2
    1/2
    >>> symbolic.normal_form("attention", mode=1).kind(beta=3.0)
    'subcritical'
    """
    dim = _check_dim(dim)
    if isinstance(mode, bool) or not isinstance(mode, int | np.integer) or mode < 1:
        raise ValueError(f"mode must be an integer >= 1, got {mode!r}")
    m = int(mode)
    g = kernel_coefficients(kernel, 2 * m, dim)
    if g[m] == 0:
        raise ValueError(f"g_{m} = 0: mode {m} never destabilizes the uniform state")
    Lmm = linearization(m, m, dim)
    Nm = harmonic_dimension(m, dim)
    c1 = -sp.Rational(1, 2) * Nm * Lmm.get(m, 0)
    p4 = sum((L**2 / harmonic_dimension(n, dim) for n, L in Lmm.items()), sp.Integer(0))
    c = Nm / 2 - Nm**3 * p4 / 6
    for n, L in Lmm.items():
        if n in (0, m):
            continue
        r = g[n] / g[m]
        c -= Nm**3 * L**2 * r / (2 * harmonic_dimension(n, dim) * (1 - r))
    c = sp.simplify(c)
    relevant = [c, g[m]] + [g[n] for n in Lmm if n != 0]
    nf = NormalForm(mode=m, dim=dim, kappa_m=sp.simplify(1 / g[m]), c1=sp.nsimplify(c1),
                    c=c, coupled=dict(Lmm), params=_params(relevant))
    nf._g = g
    return nf
