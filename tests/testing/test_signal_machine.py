"""The signal state machine: ecs-kernel against the reference model."""
from hypothesis import HealthCheck, settings

from ecs_kernel.testing.signals import SignalMachine

TestSignals = SignalMachine.TestCase
TestSignals.settings = settings(max_examples=250, stateful_step_count=40, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
