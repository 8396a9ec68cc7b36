"""CI installs exactly as README tells a new user, and that install includes Ray, so that CI runs
the `ray` test group (tests/cluster/test_ray.py) instead of failing it."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def _pip_installs(text: str) -> list[str]:
    return re.findall(r'pip install -e "[^"]*"', text)


def test_ci_installs_what_the_readme_says_and_that_includes_ray():
    readme = _pip_installs((ROOT / "README.md").read_text())
    ci = _pip_installs((ROOT / ".ci" / "run").read_text())
    assert readme and ci == readme[:1]
    assert readme[0] == 'pip install -e ".[test,ray]"'
    extras = re.search(r'^ray\s*=\s*\["ray>=([0-9.]+)"\]', (ROOT / "pyproject.toml").read_text(), re.M)
    assert extras, "pyproject.toml's ray extra installs Ray"
