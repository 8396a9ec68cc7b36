"""The README's Python examples run as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


def test_readme_python_examples_run(capsys):
    for block in python_blocks():
        ns: dict = {"__name__": "readme"}
        exec(compile(block, str(README), "exec"), ns)
        for name, obj in ns.items():  # run any state machine the example defines
            if name.startswith("Test") and hasattr(obj, "runTest"):
                obj("runTest").runTest()
