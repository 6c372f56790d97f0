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
