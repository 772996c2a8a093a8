"""Refit the coefficients of xpgrad's pure Array API erf/erfc (src/xpgrad/ops/activations.py).

Chebyshev interpolants computed in 60-digit decimal arithmetic, turned into
monomials: ``A`` fits erf(√u)/√u on u = x² ∈ [0, 1] (|x| ≤ 1); ``B`` fits
log(erfcx(x)/t) in t = 2/(x + 2) ∈ (0, 2/3] (x ≥ 1, the tail, where
erfc(x) = e^(−x²)·erfcx(x)).
Run ``python tools/fit_erf.py`` and compare with ``_A`` and ``_B`` in the module;
tests/ops/test_activations.py checks the result against math.erf / math.erfc.
Standard library only; takes a few seconds.
"""

import functools
from decimal import Decimal as D
from decimal import getcontext

getcontext().prec = 60


def dexp(x):
    return x.exp()

SQRTPI = None
def sqrtpi():
    global SQRTPI
    if SQRTPI is None:
        # pi via Chudnovsky-free: use Machin
        getcontext().prec += 10
        def arctan_inv(n):
            x = D(1) / n; x2 = x * x; s = x; t = x; k = 1
            while True:
                t = -t * x2; k += 2; term = t / k
                if abs(term) < D(10) ** (-(getcontext().prec + 2)): break
                s += term
            return s
        pi = 16 * arctan_inv(5) - 4 * arctan_inv(239)
        getcontext().prec -= 10
        SQRTPI = +pi.sqrt()
    return SQRTPI

def erf_taylor(x):
    x = D(x)
    x2 = x * x
    term = x; s = x; n = 0
    eps = D(10) ** (-(getcontext().prec + 5))
    while True:
        n += 1
        term = -term * x2 / n
        add = term / (2 * n + 1)
        s += add
        if abs(add) < eps * abs(s): break
    return 2 * s / sqrtpi()

def erfcx_cf(x):
    # erfc(x) e^{x^2} sqrt(pi) = 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) ; evaluate backwards
    x = D(x)
    N = 4000 if x < 3 else 800
    f = x
    for k in range(N, 0, -1):
        f = x + (D(k) / 2) / f
    return 1 / f / sqrtpi()

def erfcx(x):
    x = D(x)
    if x < 4:
        with __import__('decimal').localcontext() as c:
            c.prec = 120
            v = (1 - erf_taylor(x)) * (x * x).exp()
        return +v
    return erfcx_cf(x)


@functools.lru_cache(None)
def PI():
    return sqrtpi() ** 2

def dcos(x):
    twopi = 2 * PI()
    x = x % twopi
    if x > PI(): x = twopi - x
    s = D(1); term = D(1); n = 0; x2 = x * x
    while True:
        n += 2
        term = -term * x2 / (n * (n - 1))
        if abs(term) < D(10) ** -70: break
        s += term
    return s

def cheb(fn, a, b, n):
    """Chebyshev interpolation coefficients (first kind nodes), all in Decimal."""
    a, b = D(a), D(b)
    th = [PI() * (k + D("0.5")) / n for k in range(n)]
    xs = [(a + b) / 2 + (b - a) / 2 * dcos(t) for t in th]
    ys = [fn(x) for x in xs]
    cs = []
    for j in range(n):
        s = sum(y * dcos(j * t) for y, t in zip(ys, th))
        cs.append(2 * s / n)
    cs[0] /= 2
    return cs

def cheb2mono(c):
    # Chebyshev T_j(y) to monomials in y, exact-ish in Decimal
    n = len(c)
    T = [[D(1)], [D(0), D(1)]]
    for j in range(2, n):
        a = [D(0)] + [2 * v for v in T[j - 1]]
        b = T[j - 2] + [D(0)] * (len(a) - len(T[j - 2]))
        T.append([p - q for p, q in zip(a, b)])
    m = [D(0)] * n
    for j in range(n):
        for k, v in enumerate(T[j]):
            m[k] += c[j] * v
    return m





# A: f(u) = erf(sqrt u)/sqrt u on [0,1]

EX = functools.lru_cache(None)(erfcx)

def compose_affine(m, a, b):
    """p(y) with y = a*u + b, as monomials in u (Decimal)."""
    n = len(m)
    out = [D(0)] * n
    # (a u + b)^k binomial
    from math import comb
    for k, ck in enumerate(m):
        for j in range(k + 1):
            out[j] += ck * comb(k, j) * (a ** j) * (b ** (k - j))
    return out

def fA(u):
    if u == 0: return 2 / sqrtpi()
    s = u.sqrt(); return erf_taylor(s) / s
cA = cheb(fA, D(0), D(1), 13)
mA_y = cheb2mono(cA)                 # in y = 2u - 1
mA = compose_affine(mA_y, D(2), D(-1))
print("A sum|b|", float(sum(abs(v) for v in mA)))
print("A = (" + ", ".join(repr(float(v)) for v in mA) + ")")
cB = cheb(lambda t: (EX(2 / t - 2) / t).ln(), D("1e-40"), D(2) / 3, 22)
mB = cheb2mono(cB)
print("B sum|a|", float(sum(abs(v) for v in mB)))
print("B = (" + ", ".join(repr(float(v)) for v in mB) + ")")
