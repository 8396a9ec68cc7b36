"""Functions the backend tests send to workers (module-level: they travel by reference)."""
import os
import time


def square(x: int) -> int:
    return x * x


def die_once(item):
    """(marker, x, die): the first attempt at an item with ``die`` kills its worker process;
    the next finds the marker file and returns x * x."""
    marker, x, die = item
    if die and not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os._exit(1)
    return x * x


def always_die(item):
    os._exit(1)


def fail(x):
    raise ValueError(f"item {x} is bad")


def env(name: str):
    return os.environ.get(name)


def slow_square(x: int) -> int:
    time.sleep(x)
    return x * x
