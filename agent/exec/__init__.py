"""Running tasks: the Executor and Controller protocols and the task state machine.

interfaces.py  Executor, Controller, Observed (the boundary, as Protocols)
driver.py      TaskRunner: drives a Controller through the task states
engine.py      EngineExecutor: tasks as containers of the local engine
fake.py        FakeExecutor: states without containers (benchmarks, tests)
"""

from shoal.agent.exec.errors import ContainerGone, ExecError, TaskFailed, TaskRejected
from shoal.agent.exec.interfaces import Controller, Executor, Observed

__all__ = [
    "ContainerGone",
    "Controller",
    "ExecError",
    "Executor",
    "Observed",
    "TaskFailed",
    "TaskRejected",
]
