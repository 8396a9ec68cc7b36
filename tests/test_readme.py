"""The README's Python examples run as written and print exactly what the README shows.

A ```python block is followed by a ```text block (after at most one line of prose, "It prints:")
holding its output, or prints nothing.
"""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"```python\n(.*?)```\n(?:\n[^`\n]+\n\n```text\n(.*?)```)?", re.S)


def python_blocks() -> list[tuple[str, str]]:
    """(code, what the README shows it printing: "" when no output block follows)."""
    return [(m.group(1), m.group(2) or "") for m in _BLOCK.finditer(README.read_text())]


def run_block(code: str) -> str:
    """Run one block (and any state machine it defines); what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ns: dict = {"__name__": "readme"}
        exec(compile(code, str(README), "exec"), ns)
        for name, obj in ns.items():
            if name.startswith("Test") and hasattr(obj, "runTest"):
                obj("runTest").runTest()
    return out.getvalue()


def test_readme_has_python_examples_with_output():
    blocks = python_blocks()
    assert len(blocks) >= 2 and any(shown for _, shown in blocks)


def test_readme_python_examples_print_what_the_readme_shows():
    for code, shown in python_blocks():
        assert run_block(code) == shown, code


def test_a_block_that_prints_something_else_is_caught():
    assert run_block("print('x')") != ""
    m = _BLOCK.search("```python\nprint(1)\n```\n\nIt prints:\n\n```text\n1\n```\n")
    assert m.group(2) == "1\n"
