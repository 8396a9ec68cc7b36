"""The timer state machine: ecs-kernel's timers, CPU clocks and sleeps against the reference model."""
from hypothesis import HealthCheck, settings

from ecs_kernel.testing.timers import TimerMachine

TestTimers = TimerMachine.TestCase
TestTimers.settings = settings(max_examples=120, stateful_step_count=40, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow])
