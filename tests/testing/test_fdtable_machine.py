"""The FD-table state machine: ecs-kernel against the reference model."""
from hypothesis import HealthCheck, settings

from ecs_kernel.testing.fdtable import FDTableMachine

TestFDTable = FDTableMachine.TestCase
TestFDTable.settings = settings(max_examples=200, stateful_step_count=40, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
