r"""The crossover scale :math:`\lambda` in dollars, and its conversion to weight units.

When the minimum efficient trade size is unknown, a practical default for the crossover
scale is

.. math::  \lambda_{\mathrm{default}} = \sqrt{\frac{\mathrm{ADV}\times\mathrm{spread}}
                                                   {\mathrm{impact}}}
           \approx \$50\mathrm k - \$500\mathrm k .

Units (the formula must come out in dollars, :math:`[\lambda^2] = \$^2`):

* ``adv`` — average daily dollar volume, :math:`\$/\mathrm{day}`; the formula uses the
  dollar volume of one trading day (the time unit ``dt = 1 day``), i.e.
  :math:`\mathrm{ADV}\times 1\,\mathrm{day}` in :math:`\$`;
* ``spread`` — the bid-ask spread as a fraction of the price (10 bp = ``1e-3``),
  dimensionless;
* ``impact`` — the linear price-impact coefficient: the fractional price move per dollar
  traded (Kyle's lambda divided by the price), in :math:`1/\$`.

Then :math:`\$ \cdot 1 / (1/\$) = \$^2`.  Reading: ``q* = spread / impact`` is the trade
size at which the impact cost :math:`q\cdot(\mathrm{impact}\cdot q)` equals the spread cost
:math:`\mathrm{spread}\cdot q`, and :math:`\lambda = \sqrt{\mathrm{ADV}\cdot q^*}` is the
geometric mean of that break-even size and one day's volume.

Weights or dollars.  The engine's weight axis
is the portfolio weight :math:`w \in [0, 1]`, dimensionless; a dollar position is
:math:`x = V w` for a portfolio worth :math:`V` dollars.  Lengths scale by :math:`V`, so
:math:`\lambda_w = \lambda_\$ / V` (and velocities :math:`v_w = v_\$ / V`, in 1/time);
the rate :math:`r` (1/time) and the ratio :math:`\|v\|_G / (\lambda |r|)` that decides
between transport and reaction do not change.  Pass :func:`lam_to_weights` of the dollar
scale as ``lam`` to :func:`wfr_cvx.geodesic`.

References
----------
Kyle, "Continuous auctions and insider trading", Econometrica 53 (1985) — linear price
impact.  Almgren & Chriss, "Optimal execution of portfolio transactions", J. Risk 3 (2000).
"""

from __future__ import annotations

import math

from .._validate import positive_scalar
from .._warnings import warn
from ..errors import UnitsWarning

__all__ = ["crossover_scale", "lam_to_weights", "lam_to_dollars", "MAX_SPREAD",
           "PLAUSIBLE_SPREAD"]

#: A quoted spread (ask - bid) / mid of 2 or more would put the bid at or below zero.
MAX_SPREAD = 2.0

#: Spreads above this fraction (500 bp) are warned about: more likely basis points or
#: percent than a fraction of the price.
PLAUSIBLE_SPREAD = 0.05


def crossover_scale(adv: float, spread: float, impact: float) -> float:
    r"""The default crossover scale :math:`\sqrt{\mathrm{ADV}\cdot
    \mathrm{spread}/\mathrm{impact}}`, in dollars.

    Parameters
    ----------
    adv : float
        Average daily dollar volume, $ per day (> 0).
    spread : float
        Bid-ask spread as a fraction of the price, e.g. ``1e-3`` for 10 bp (> 0).
    impact : float
        Linear price impact: fractional price move per dollar traded, 1/$ (> 0).

    Returns
    -------
    float
        :math:`\lambda` in dollars.

    Raises
    ------
    ValueError
        An input that is not finite and positive, naming it; a ``spread`` of
        :data:`MAX_SPREAD` or more (basis points passed as a fraction); a result beyond
        the floating-point range (above 1.8e308, or below 5e-324), which is computed
        without overflow in between (``adv=1e300, impact=1e-300`` is fine).

    Warns
    -----
    UnitsWarning
        ``spread`` above :data:`PLAUSIBLE_SPREAD` (500 bp).

    Examples
    --------
    A mid-cap name: $10M a day, 10 bp spread, $10k (0.1 % of ADV) moves the price 5 bp:

    >>> round(crossover_scale(adv=10e6, spread=10e-4, impact=5e-8))
    447214

    A small cap: $2M a day, 30 bp spread, $10k moves the price 50 bp:

    >>> round(crossover_scale(adv=2e6, spread=30e-4, impact=5e-7))
    109545

    A micro cap: $1M a day, 50 bp spread, $10k moves the price 1 %:

    >>> round(crossover_scale(adv=1e6, spread=50e-4, impact=1e-6))
    70711
    """
    adv = positive_scalar(adv, "adv")
    spread = positive_scalar(spread, "spread")
    impact = positive_scalar(impact, "impact")
    if spread >= MAX_SPREAD:
        raise ValueError(f"`spread` is a fraction of the price and must be < {MAX_SPREAD:g} "
                         f"(a bid at or below zero), got {spread:g}: it looks like basis "
                         f"points (10 bp is 1e-3, so pass {spread:g}e-4)")
    if spread > PLAUSIBLE_SPREAD:
        warn(f"`spread` = {spread:g} is {100 * spread:g} % of the price; spread is a "
                      f"fraction (10 bp is 1e-3): if you meant {spread:g} bp pass "
                      f"{spread:g}e-4", UnitsWarning, stacklevel=None)
    return _sqrt_product(adv, spread, impact)


def _sqrt_product(adv: float, spread: float, impact: float) -> float:
    r""":math:`\sqrt{\mathrm{adv}\cdot\mathrm{spread}/\mathrm{impact}}` without the
    overflow or underflow of the product: mantissas and powers of two apart (adv = 1e300
    and impact = 1e-300 put 1e600 times the spread under the root, a float after it)."""
    (m_a, e_a), (m_s, e_s), (m_i, e_i) = map(math.frexp, (adv, spread, impact))
    mantissa, exponent = m_a * m_s / m_i, e_a + e_s - e_i
    if exponent % 2:
        mantissa, exponent = 2.0 * mantissa, exponent - 1
    try:
        result = math.ldexp(math.sqrt(mantissa), exponent // 2)
    except OverflowError:
        result = math.inf
    if not 0.0 < result < math.inf:
        raise ValueError(f"the crossover scale sqrt(adv * spread / impact) of adv={adv:g}, "
                         f"spread={spread:g}, impact={impact:g} is "
                         f"{'beyond' if result else 'below'} the floating-point range: check "
                         f"the units (adv in $ per day, spread a fraction, impact in 1/$)")
    return result


def lam_to_weights(lam_dollars: float, portfolio_value: float) -> float:
    r"""Convert a crossover scale from dollars to portfolio-weight units.

    :math:`\lambda_w = \lambda_\$ / V`: dimensionless (weights are fractions of the
    portfolio value :math:`V`), the ``lam`` that :func:`wfr_cvx.geodesic` expects.

    Parameters
    ----------
    lam_dollars : float
        :math:`\lambda` in dollars (> 0).
    portfolio_value : float
        :math:`V` in dollars (> 0).

    Examples
    --------
    >>> lam = crossover_scale(adv=10e6, spread=10e-4, impact=5e-8)   # $447k
    >>> round(lam_to_weights(lam, portfolio_value=5e6), 4)           # a $5M portfolio
    0.0894
    """
    return positive_scalar(lam_dollars, "lam_dollars") / positive_scalar(portfolio_value,
                                                              "portfolio_value")


def lam_to_dollars(lam_weights: float, portfolio_value: float) -> float:
    r"""Convert a crossover scale from portfolio-weight units to dollars.

    :math:`\lambda_\$ = V\lambda_w`, the inverse of :func:`lam_to_weights`.

    Parameters
    ----------
    lam_weights : float
        :math:`\lambda` in weight units, dimensionless (> 0).
    portfolio_value : float
        :math:`V` in dollars (> 0).

    Examples
    --------
    >>> lam_to_dollars(0.05, portfolio_value=2e6)    # lam = 0.05 on a $2M book: $100k
    100000.0
    """
    return positive_scalar(lam_weights, "lam_weights") * positive_scalar(portfolio_value,
                                                             "portfolio_value")
