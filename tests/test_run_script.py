"""The ./run entry point: clear failures for a missing interpreter and unknown commands."""

import subprocess
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "run"


def run(*args, env=None):
    return subprocess.run(
        [str(RUN), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_unknown_commands_are_refused_with_usage():
    result = run("frobnicate")

    assert result.returncode == 2
    assert "usage: ./run" in result.stdout + result.stderr


def test_a_wrong_python310_explains_why_rasa_needs_it(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYENV_ROOT": str(tmp_path),
        "PYTHON310": "/nonexistent/python3.10",
        "ACORDO_VENVS": str(tmp_path / "venvs"),
    }

    result = run("setup", env=env)

    assert result.returncode == 2
    assert "3.8-3.10" in result.stderr
    assert "PYTHON310=" in result.stderr
    assert not (tmp_path / "venvs").exists()
