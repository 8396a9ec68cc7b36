"""A state machine with a planted bug, for the campaign tests. Its invariant claims that no task
ever exits with a status in PLANTED (a range the exit rules can draw, but not in every run): a
fork and an exit with such a code break it. Nothing in the kernel is wrong: the campaign must find
the violation on some seeds and not on others, shrink it, and a failing seed must reproduce it,
shrunk the same way."""
from hypothesis.stateful import invariant

from ecs_kernel.testing.lifecycle import LifecycleMachine

PLANTED = range(200, 256)


class PlantedExitCode(LifecycleMachine):
    def __init__(self):
        super().__init__()
        self.codes: list[int] = []  # every exit code the rules passed to exit and exit_group
        for name in ("exit", "exit_group"):
            call = getattr(self.ref, name)
            setattr(self.ref, name, lambda tid, code, call=call: (self.codes.append(code), call(tid, code))[1])

    @invariant()
    def no_task_exits_with_a_planted_code(self):
        bad = [c for c in self.codes if c in PLANTED]
        assert not bad, f"a task exited with status {bad[0]} (planted: 200..255 never happens)"
