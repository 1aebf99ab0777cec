"""Physics-based WIM simulator: scenario folders (specs/bench.md) with LCS1 captures and truth.

from edge.sim import SimOptions, generate
result = generate(Path("out/sim"), SimOptions(vehicles=50, seed=1))
"""

from edge.sim.options import SimOptions, SimResult
from edge.sim.traffic import SimVehicle
from edge.sim.writer import generate

__all__ = ["SimOptions", "SimResult", "SimVehicle", "generate"]
