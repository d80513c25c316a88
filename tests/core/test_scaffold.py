"""``crm-sync plugin new``: the package it writes installs, passes its tests and mypy --strict.

The package is installed editable into a throwaway virtual environment that sees the
test environment's packages (crm-sync included) through a ``.pth`` file, so nothing is
added to the test environment and nothing is downloaded beyond the configured package
indexes; the package's own ``pytest`` and ``mypy --strict`` then run there, as an
integrator would run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from core.scaffold import ScaffoldError, check_name, write_plugin

CLI = [sys.executable, "-m", "core"]


def _env() -> dict[str, str]:
    """The environment without the developer's crm-sync settings or import paths."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CRM_SYNC_") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }


def _run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.mark.slow
def test_a_new_plugin_installs_and_passes_its_tests_and_mypy_strict(tmp_path: Path) -> None:
    written = _run(
        [*CLI, "plugin", "new", "acme_erp", "--dir", "acme", "--title", "Acme"], tmp_path
    )
    assert "wrote the plugin acme_erp" in written.stdout
    project = tmp_path / "acme"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'acme_erp = "acme_erp.plugin"' in pyproject
    assert '"crm-sync>=' in pyproject
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    site_packages = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site_packages, "_test_environment.pth").write_text(
        f"import site; site.addsitedir({parent!r})\n"
    )

    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(project)], tmp_path)
    tests = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    typed = _run([python, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy")], project)

    summary = tests.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 20 and "failed" not in summary, tests.stdout
    assert "2 skipped" in summary, summary  # the two webhook tests: it takes no webhooks
    assert "Success: no issues found" in typed.stdout, typed.stdout
    listed = _run([python, "-m", "core", "plugins", "--json"], tmp_path)
    assert '"name": "acme_erp"' in listed.stdout and '"status": "idle"' in listed.stdout


def test_the_package_holds_every_part(tmp_path: Path) -> None:
    written = write_plugin("acme_erp", tmp_path / "acme", "Acme")

    names = sorted(str(path.relative_to(tmp_path / "acme")) for path in written)
    assert names == [
        "README.md",
        "acme_erp/__init__.py",
        "acme_erp/mapping.py",
        "acme_erp/plugin.py",
        "acme_erp/py.typed",
        "acme_erp/settings.py",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_contract.py",
        "tests/test_mapping.py",
    ]
    text = "\n".join(path.read_text() for path in written)
    assert "{{" not in text and "}}" not in text
    assert "CRM_SYNC_PLUGINS__ACME_ERP__URL" in text
    assert 'pytest_plugins = ["core.testing.fixtures"]' in text


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Acme", "not a plugin name"),
        ("1acme", "not a plugin name"),
        ("acme-erp", "not a plugin name"),
        ("a", "not a plugin name"),
        ("class", "not a plugin name"),
        ("core", "would shadow"),
        ("tests", "would shadow"),
        ("json", "would shadow"),
    ],
)
def test_a_bad_name_is_refused(name: str, why: str) -> None:
    with pytest.raises(ScaffoldError, match=why):
        check_name(name)


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "notes.txt").write_text("mine")

    done = subprocess.run(
        [*CLI, "plugin", "new", "acme", "--dir", str(tmp_path / "acme")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'acme'} already exists and is not empty: nothing written"
    ]
    assert [p.name for p in (tmp_path / "acme").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("package", ["core", "erp", "lead_scoring"])
def test_every_package_a_plugin_imports_is_typed_when_installed(package: str) -> None:
    """Each carries py.typed and ships it, or mypy --strict skips it as untyped."""
    root = Path(__file__).resolve().parents[2]
    assert (root / package / "py.typed").is_file()
    shipped = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in shipped["package-data"][package]
