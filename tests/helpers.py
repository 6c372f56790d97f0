"""Shared helpers of the tests (not a test module)."""

from wfr_cvx.assembly import assemble
from wfr_cvx.engine import make_request


def request_for(rho0, rho1, grid, lam, *, metric=None, constraints=(), transport=True,
                reaction=True, scheme="power", backend="clarabel", options=None,
                cost_scale=1.0):
    """A validated request in the given units (no mass scaling), mechanisms switched."""
    request = make_request(rho0, rho1, grid, lam, metric=metric, constraints=constraints,
                           scheme=scheme, backend=backend, options=options)
    request = request.with_ends(request.rho0, request.rho1, transport=transport,
                                reaction=reaction)
    if cost_scale != 1.0:
        import dataclasses

        request = dataclasses.replace(request, cost_scale=cost_scale)
    return request


def assembled(rho0, rho1, grid, lam, **kw):
    """The assembly (:class:`wfr_cvx.assembly.Assembly`) of a request built as above."""
    return assemble(request_for(rho0, rho1, grid, lam, **kw))


def line_pair(n=16, steps=8, lam=0.3):
    """One two-regime problem solved twice: on ``Grid(n, steps)`` and with the same masses
    on the first line of cells of ``Grid.simplex(n, steps)`` (``w_B`` in its first
    cell), where it is a 1-D problem too: ``(geodesic_1d, geodesic_2d)``."""
    import wfr_cvx

    g = wfr_cvx.Grid(n, steps, regimes=2)
    r0 = g.bump(0.3, 0.08, 0, mass=0.8) + g.bump(0.5, 0.08, 1, mass=0.2)
    r1 = g.bump(0.45, 0.08, 0, mass=0.4) + g.bump(0.6, 0.08, 1, mass=0.6)
    s = wfr_cvx.Grid.simplex(n, steps, regimes=2)
    a, b = s.zeros(), s.zeros()
    a[:, :, 0], b[:, :, 0] = r0, r1
    return wfr_cvx.geodesic(r0, r1, g, lam=lam), wfr_cvx.geodesic(a, b, s, lam=lam)
