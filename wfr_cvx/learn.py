"""The learned portfolio dynamics under their public name: :mod:`wfr_cvx.analysis.learn`.

A policy network trained on solved geodesics (:func:`policy_samples`,
:class:`PolicyModel`), its rollout and the audit that holds it to the exact geodesic
(:func:`audit`).  Needs JAX (``pip install 'wfr_cvx[learn]'``); ``import wfr_cvx``
never imports this module.
"""

from .analysis.learn import (
    Audit,
    GeodesicPolicy,
    PolicyModel,
    PolicySamples,
    RolledPath,
    audit,
    policy_samples,
    rollout_policy,
)

__all__ = ["PolicySamples", "policy_samples", "PolicyModel", "GeodesicPolicy", "RolledPath",
           "rollout_policy", "Audit", "audit"]
