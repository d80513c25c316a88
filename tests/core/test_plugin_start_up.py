"""A broken installed plugin stops start-up with one line naming it and how to disable it.

Each case installs a plugin the way a package does (a ``.dist-info`` with a
``crm_sync.plugins`` entry point on the path) and runs the real command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = {
    "import": "import not_a_module_anywhere\n",
    "hook": (
        "from core import hookimpl\n\n@hookimpl\ndef crm_sync_describ(context):\n    return None\n"
    ),
    "argument": (
        "from core import PluginDescription, hookimpl\n\n"
        "@hookimpl\n"
        "def crm_sync_describe(context, target):\n"
        "    return PluginDescription((), None)\n"
    ),
}

EXPECTED = {
    "import": (
        "plugin 'shop' (shop_plugin) failed to import: "
        "ModuleNotFoundError: No module named 'not_a_module_anywhere'"
    ),
    "hook": (
        "plugin 'shop' implements crm_sync_describ, which is not a crm-sync hook "
        "(did you mean crm_sync_describe(context)?)"
    ),
    "argument": (
        "plugin 'shop': its hook crm_sync_describe takes {'target'}, "
        "not in the specification crm_sync_describe(context)"
    ),
}


def install(site: Path, source: str) -> None:
    """Put a one-module distribution named crm-sync-shop with the plugin ``shop`` on ``site``."""
    info = site / "crm_sync_shop-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crm-sync-shop\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[crm_sync.plugins]\nshop = shop_plugin\n")
    (site / "shop_plugin.py").write_text(source)


def crm_sync(
    site: Path, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_SYNC_")}
    clean.update(PYTHONPATH=str(site), CRM_SYNC_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_plugin_stops_start_up_in_one_line(tmp_path: Path, case: str) -> None:
    site = tmp_path / "site"
    install(site, BROKEN[case])

    done = crm_sync(site, tmp_path, "plugins")

    assert done.returncode == 2, done.stdout
    [line] = done.stderr.strip().splitlines()
    assert line == (
        f'error: {EXPECTED[case]}; disable it with disabled_plugins = ["shop"] '
        "(or CRM_SYNC_DISABLED_PLUGINS=shop) to start without it"
    )
    assert "Traceback" not in done.stderr


def test_a_disabled_broken_plugin_is_never_imported(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(site, BROKEN["import"])

    done = crm_sync(site, tmp_path, "plugins", "--json", CRM_SYNC_DISABLED_PLUGINS="shop")

    assert done.returncode == 0, done.stderr
    assert '"name": "shop"' in done.stdout and '"status": "disabled"' in done.stdout
