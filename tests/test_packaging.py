"""pyproject.toml and environment.yml list the same packages with the same lower bounds; the README's two
commands are the ones .ci/run and tasks.py implement."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT

SPLIT = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]+\])?\s*(>=\s*[\w.]+)?")


def _parse(spec: str) -> dict[str, str]:
    m = SPLIT.match(spec.strip())
    assert m, f"unreadable requirement {spec!r}"
    name, extras, bound = m.group(1).lower().replace("_", "-"), m.group(2), (m.group(3) or "").replace(" ", "")
    out = {name: bound}
    if name == "dask" and extras and "distributed" in extras:
        out["distributed"] = bound  # conda-forge splits dask[distributed] into dask + distributed
    return out


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted: dict[str, str] = {}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        wanted.update(_parse(spec))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                if not spec.startswith("-e"):
                    have.update(_parse(spec))
        elif not dep.startswith(("python", "pip")):
            have.update(_parse(dep))
    assert have == wanted, {
        "only in pyproject": sorted(set(wanted) - set(have)),
        "only in environment.yml": sorted(set(have) - set(wanted)),
        "different bounds": sorted(k for k in set(have) & set(wanted) if have[k] != wanted[k]),
    }
    assert any(isinstance(d, str) and d.startswith("python>=3.11") for d in env["dependencies"])


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in readme and "python3 tasks.py demo" in readme
    assert "python3 tasks.py test" in ci


def test_test_modules_have_unique_names() -> None:
    """Test folders are not packages (pytest's default import mode): two test files with one name collide."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
