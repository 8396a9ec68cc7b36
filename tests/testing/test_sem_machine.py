"""The System V semaphore state machine: ecs-kernel against the reference model."""
from hypothesis import HealthCheck, settings

from ecs_kernel.testing.sem import SemMachine

TestSem = SemMachine.TestCase
TestSem.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow])
