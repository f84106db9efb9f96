"""Every built-in model module, imported once so that each registers itself (:mod:`causalnet.models.registry`
imports this module on the first look-up; nothing else needs to)."""

from causalnet.models import (  # noqa: F401  (imported for their registration)
    causalnet,
    dualinception,
    htnet,
    microattention,
    mmnet,
    offapexnet,
    offtanet,
    srmcl,
)
