"""Property-testing tools users import: hypothesis strategies (``strategies``) and state machines
that drive the kernel beside plain-Python reference models (``lifecycle``, ``signals``,
``fdtable``). Subclass a machine to add rules and invariants of your own::

    from ecs_kernel.testing.signals import SignalMachine
    class MyMachine(SignalMachine):
        @invariant()
        def no_task_has_more_than_three_frames(self): ...
    TestMine = MyMachine.TestCase
"""
