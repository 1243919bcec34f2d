"""The node side of the cluster (DESIGN §5): session, assignments, task runners, reports.

See agent.py for the Agent, exec/ for the Executor/Controller protocols and
the task state machine, and docs/agent.md for the protocol with the dispatcher.
"""

from shoal.agent.agent import Agent
from shoal.agent.config import AgentConfig

__all__ = ["Agent", "AgentConfig"]
