"""Overload rules: jurisdiction profiles as versioned data, tolerance, and the decision.

`decide(vehicle, rules, group_spacing_m)` -> `Decision` (see edge.rules.model).
"""

from edge.rules.decide import decide
from edge.rules.model import Check, Decision, Limit, TolerancePolicy

__all__ = ["Check", "Decision", "Limit", "TolerancePolicy", "decide"]
