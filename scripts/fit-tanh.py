#!/usr/bin/env python3
"""Fits the rational tanh approximation that VectorMath.tanh evaluates in single precision.

tanh(x) ~ x * P(x^2) / Q(x^2), P of degree 6 and Q of degree 3 in x^2, P(0) = Q(0) = 1, on
0 < x <= BOUND (inputs beyond are clamped). The fit minimises the largest relative error:
linearised least squares x*P - tanh(x)*Q = 0 divided by the previous Q (Loeb), with Lawson's
weights, in double precision on x^2 / BOUND^2 for conditioning. It then prints the
coefficients as float32 literals and the largest error, in ulp, of the float32 evaluation (the
same Horner steps as the Swift code, no fused multiply-add) against double tanh on [-10, 10].

Needs numpy only: python3 scripts/fit-tanh.py
"""
import numpy as np

BOUND, NP, NQ, LAWSON_STEPS = 9.0, 6, 3, 100


def fit():
    scale = BOUND * BOUND
    angles = np.linspace(0, np.pi / 2, 40000)[1:]
    x = np.concatenate([BOUND * np.sin(angles), np.geomspace(1e-6, 1e-2, 500)])
    y, u = np.tanh(x), x * x / scale
    weights, q_values, best = np.ones_like(x), np.ones_like(x), None
    for step in range(30 + LAWSON_STEPS):
        rows = np.concatenate([x[:, None] * u[:, None] ** np.arange(1, NP + 1),
                               -y[:, None] * u[:, None] ** np.arange(1, NQ + 1)], 1)
        s = np.sqrt(weights) / (y * q_values)
        coef, *_ = np.linalg.lstsq(rows * s[:, None], (y - x) * s, rcond=None)
        p, q = np.concatenate([[1], coef[:NP]]), np.concatenate([[1], coef[NP:]])
        q_values = np.polyval(q[::-1], u)
        error = (x * np.polyval(p[::-1], u) / q_values - y) / y
        if best is None or np.abs(error).max() < best[0]:
            best = (np.abs(error).max(), p, q)
        if step >= 30:
            weights = np.maximum(weights * np.abs(error) / np.sum(weights * np.abs(error)), 1e-300)
    worst, p, q = best
    assert np.polyval(q[::-1], np.linspace(0, 1, 100001)).min() > 0, "Q has a root"
    return worst, p / scale ** np.arange(NP + 1), q / scale ** np.arange(NQ + 1)


def evaluate(p, q, x):
    f = np.float32
    clamped = np.clip(x, f(-BOUND), f(BOUND))
    t = clamped * clamped
    def horner(c):
        r = np.full_like(t, c[-1])
        for k in range(len(c) - 2, -1, -1):
            r = r * t + c[k]
        return r
    return clamped * horner(p) / horner(q)


def main():
    worst, p, q = fit()
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    print("relative error of the fit (double):", worst)
    print("P (constant term first):", [str(c) for c in p32])
    print("Q (constant term first):", [str(c) for c in q32])
    x = np.linspace(-10, 10, 2_000_001).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    error = np.abs(evaluate(p32, q32, x).astype(np.float64) - exact) / ulp
    print("float32 evaluation: max %.2f ulp at x = %g, mean %.2f ulp" % (error.max(), x[error.argmax()], error.mean()))


if __name__ == "__main__":
    main()
