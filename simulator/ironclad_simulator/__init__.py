"""A faithful, in-memory simulator of the Ironclad CLM public API.

Records, attachments, workflows, webhooks, OAuth client credentials, rate limits and faults.
"""

from ironclad_simulator.state import SimConfig, SimulatorState

__all__ = ["SimConfig", "SimulatorState"]
__version__ = "0.1.0"
