r"""The explicit geodesic of a semi-coupling: every piece in closed form.

Each pair :math:`p = (i, j)` with masses :math:`A, B` at angle
:math:`\theta = |x_i - y_j|_G / 2\lambda < \pi/2` is the two-Dirac geodesic between
:math:`A\delta_{x_i}` and :math:`B\delta_{y_j}` (Liero, Mielke & Savaré 2018, Invent.
Math. 211, §7; Chizat et al. 2018, Found. Comput. Math. 18, §4): in the complex plane

.. math::  z(s) = (1 - s)\sqrt A + s\sqrt B\,e^{i\theta},

the piece has mass :math:`|z(s)|^2` and sits at :math:`x_i + (\arg z(s)/\theta)(y_j - x_i)`
(it has travelled :math:`2\lambda\arg z(s)` in metric length, along the straight segment,
which is the geodesic of a constant metric).  A destroyed mass :math:`\sigma_i` is the
piece :math:`\sqrt{\sigma_i}\to 0` at :math:`x_i`, mass :math:`(1 - s)^2\sigma_i`; a created
mass :math:`\tau_j` is :math:`0 \to \sqrt{\tau_j}` at :math:`y_j`, mass :math:`s^2\tau_j`.

**Action.**  With :math:`z = re^{i\varphi}`, the metric speed is :math:`2\lambda\dot\varphi`
and the reaction rate :math:`2\dot r / r`, so a piece's action density is
:math:`m|\dot x|_G^2 + \lambda^2\dot m^2/m = 4\lambda^2(r^2\dot\varphi^2 + \dot r^2)
= 4\lambda^2|\dot z|^2`, constant along the straight line :math:`z(s)`:

.. math::  4\lambda^2|\sqrt B e^{i\theta} - \sqrt A|^2 = 4\lambda^2(A + B - 2\sqrt{AB}\cos\theta).

Its angular momentum :math:`r^2\dot\varphi = \operatorname{Im}(\bar z\dot z) =
\sqrt{AB}\sin\theta` is constant too, so the transport part is
:math:`4\lambda^2\int r^2\dot\varphi^2 ds = 4\lambda^2\sqrt{AB}\sin\theta\int\dot\varphi\,ds
= 4\lambda^2\sqrt{AB}\,\theta\sin\theta` and the reaction part the rest,
:math:`4\lambda^2[(\sqrt A - \sqrt B)^2 + 2\sqrt{AB}(1 - \cos\theta - \tfrac\theta2\sin\theta)]`
(both non-negative, computed without cancellation).

**Probability paths** (:class:`~wfr_cvx.constraints.TotalMass`, endpoints of equal mass
:math:`m`).  The spherical Hellinger-Kantorovich distance (Laschos & Mielke 2019, J. Funct.
Anal. 276) is the great-circle distance on the sphere of radius :math:`\sqrt m` of the cone
whose chords are HK geodesics:

.. math::  d_{SHK} = 2\lambda\sqrt m\,\alpha,\qquad
           \sin(\alpha/2) = \frac{d_{HK}}{4\lambda\sqrt m}
           \quad(\text{i.e. } \cos\alpha = 1 - d_{HK}^2 / 8\lambda^2 m),

and its geodesic is the HK path :math:`P` radially projected,
:math:`m\,P(\tau(t)) / |P(\tau(t))|` with
:math:`\tau(t) = \sin(t\alpha) / (\sin(t\alpha) + \sin((1 - t)\alpha))`.  Projection only
rescales masses, so the pieces follow the same segments; the projected path's transport
part is :math:`(\alpha / \sin\alpha)` times the HK path's (the mass factor :math:`m / |P|`
times the time change :math:`d\tau/dt = \alpha|P| / (m\sin\alpha)` is that constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pieces", "Spherical", "state", "hk_transport_reaction", "spherical"]

TRANSPORT, DESTROYED, CREATED = 0, 1, 2


@dataclass
class Pieces:
    r"""The pieces of an explicit path, each ``z(s) = (1 - s) alpha + s beta e^{i theta}``.

    Attributes
    ----------
    start, end : ndarray, shape ``(Q, n)``
        Where each piece starts and ends (the same point for destroyed and created mass).
    alpha, beta : ndarray, shape ``(Q,)``
        Square roots of the start and end masses.
    theta : ndarray, shape ``(Q,)``
        Angle :math:`|end - start|_G / 2\lambda` (0 for destroyed and created mass).
    kind : ndarray of int
        0 transport, 1 destroyed, 2 created.
    source, target : ndarray of int
        Atom positions in the two ensembles (-1 where there is none).
    regime : ndarray of int
    """

    start: np.ndarray
    end: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    theta: np.ndarray
    kind: np.ndarray
    source: np.ndarray
    target: np.ndarray
    regime: np.ndarray


def state(pieces: Pieces, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Masses ``(Q,)`` and positions ``(Q, n)`` of the pieces at HK path time ``s``."""
    real = (1.0 - s) * pieces.alpha + s * pieces.beta * np.cos(pieces.theta)
    imaginary = s * pieces.beta * np.sin(pieces.theta)
    mass = real**2 + imaginary**2
    angle = np.arctan2(imaginary, real)
    # theta = 0 only for destroyed and created mass (start == end): any fraction will do
    fraction = np.divide(angle, pieces.theta, out=np.zeros_like(angle),
                         where=pieces.theta > 0)
    position = pieces.start + fraction[:, None] * (pieces.end - pieces.start)
    return mass, position


def _reaction_excess(theta: np.ndarray) -> np.ndarray:
    r""":math:`1 - \cos\theta - \tfrac\theta2\sin\theta \ge 0`; its Taylor series
    :math:`\theta^4/24 - \theta^6/360 + \theta^8/13440` below 0.05 (the closed form
    cancels there; the series' next term is 3e-11 of the first)."""
    closed = 2.0 * np.sin(0.5 * theta) ** 2 - 0.5 * theta * np.sin(theta)
    t2 = theta**2
    series = t2**2 * (1.0 / 24.0 - t2 * (1.0 / 360.0 - t2 / 13440.0))
    return np.where(theta < 0.05, series, closed)


def hk_transport_reaction(pieces: Pieces, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Per piece, the transport and reaction parts of its action (module docstring)."""
    product = pieces.alpha * pieces.beta
    transport = 4.0 * lam**2 * product * pieces.theta * np.sin(pieces.theta)
    reaction = 4.0 * lam**2 * ((pieces.alpha - pieces.beta) ** 2
                               + 2.0 * product * _reaction_excess(pieces.theta))
    return transport, reaction


@dataclass
class Spherical:
    r"""The radial projection of an HK path onto the sphere of mass ``mass``.

    ``angle`` is :math:`\alpha`, the great-circle angle between the endpoints.
    """

    mass: float
    angle: float

    @classmethod
    def from_hk(cls, reduced_hk: float, mass: float) -> Spherical:
        r"""From :math:`d_{HK}^2 / 4\lambda^2` and the common total mass."""
        if mass <= 0:
            return cls(0.0, 0.0)
        return cls(mass, 2.0 * float(np.arcsin(min(np.sqrt(reduced_hk / (4.0 * mass)), 1.0))))

    def hk_time(self, t: float) -> float:
        r""":math:`\tau(t) = \sin(t\alpha) / (\sin(t\alpha) + \sin((1 - t)\alpha))`."""
        if self.angle == 0:
            return float(t)
        rising, falling = np.sin(t * self.angle), np.sin((1.0 - t) * self.angle)
        return float(rising / (rising + falling))

    def distance2(self, lam: float) -> float:
        return 4.0 * lam**2 * self.mass * self.angle**2

    def transport_factor(self) -> float:
        r""":math:`\alpha / \sin\alpha` (1 at :math:`\alpha = 0`)."""
        return 1.0 if self.angle == 0 else float(self.angle / np.sin(self.angle))


def spherical(pieces: Pieces, projection: Spherical, t: float):
    """Masses and positions of the projected path at time ``t``."""
    mass, position = state(pieces, projection.hk_time(t))
    total = mass.sum()
    if total > 0:
        mass = mass * (projection.mass / total)
    return mass, position
