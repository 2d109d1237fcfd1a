"""The lock files: every install of a commit gets the same hash-checked packages.

`./run setup` installs only from requirements/*.lock; these tests catch a loose input
(pyproject.toml, requirements/*.txt) changed without `./run lock`.
"""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)")


def locked(lock_name):
    """{package: version} of a lock file, checking that every pin carries a hash."""
    pins = {}
    entry = None
    for line in (REQUIREMENTS / lock_name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            entry = canonicalize_name(match.group(1).split("[")[0])
            pins[entry] = match.group(2)
            assert line.rstrip().endswith("\\"), f"{lock_name}: {entry} has no hash"
        elif line.strip().startswith("--hash=sha256:"):
            assert entry is not None
    return pins


def loose(path):
    lines = path.read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def app_inputs():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + project["optional-dependencies"]["test"]
    return [Requirement(name) for name in names] + loose(REQUIREMENTS / "build.txt")


@pytest.mark.parametrize(
    ("lock_name", "inputs"),
    [
        ("app.lock", app_inputs),
        ("rasa.lock", lambda: loose(REQUIREMENTS / "rasa.txt")),
        ("tools.lock", lambda: loose(REQUIREMENTS / "tools.txt")),
    ],
)
def test_every_input_requirement_is_pinned_within_its_range(lock_name, inputs):
    pins = locked(lock_name)
    for requirement in inputs():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {lock_name}: run ./run lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock_name} pins {name}=={pins[name]}, outside {requirement}: run ./run lock"
        )


def test_every_package_in_a_lock_is_an_exact_pin():
    for lock_name in ("app.lock", "rasa.lock", "tools.lock"):
        text = (REQUIREMENTS / lock_name).read_text()
        requirement_lines = [
            line for line in text.splitlines() if line and not line.startswith((" ", "#"))
        ]
        assert requirement_lines, lock_name
        assert all("==" in line for line in requirement_lines), lock_name
