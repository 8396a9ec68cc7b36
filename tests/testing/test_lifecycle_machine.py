"""The lifecycle state machine: ecs-kernel against the plain-Python reference model."""
from hypothesis import HealthCheck, settings

from ecs_kernel.testing.lifecycle import LifecycleMachine

TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])
