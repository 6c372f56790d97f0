"""Analysis of solved geodesics: diagnostics and dynamics.

======================  ==============================================================
:mod:`.diagnostics`     the WFR consistency loss with a true divergence, its
                        certificate, the cost per step, the stress-energy tensor
:mod:`.dynamics`        the policy (velocity, rate) of a geodesic, one transport +
                        reaction step (Lax-Wendroff, TVD or upwind fluxes, exact
                        reaction), and the rollout of a policy from ``rho0``
:mod:`.learn`           a policy network trained on solved geodesics, its rollout and
                        audit (needs JAX, ``pip install 'wfr_cvx[learn]'``; not
                        imported here)
======================  ==============================================================
"""

from . import diagnostics, dynamics
from .diagnostics import (
    Certificate,
    StressEnergy,
    certificate,
    consistency_loss,
    consistency_loss_terms,
    cost_per_step,
    stress_energy,
)
from .dynamics import policy, rollout, step

__all__ = ["Certificate", "StressEnergy", "certificate", "consistency_loss",
           "consistency_loss_terms", "cost_per_step", "diagnostics", "dynamics", "policy",
           "rollout", "stress_energy", "step"]
