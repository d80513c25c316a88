"""``crm-sync plugin new NAME``: a ready plugin package, tested and typed from the start.

The package written holds a pyproject with the ``crm_sync.plugins`` entry point and a
dependency on crm-sync, the settings model, the mapping, the hook implementations, a
README and tests that run crm-sync's contract suite against a loopback receiver; it
passes ``pytest`` and ``mypy --strict`` as written (tests/core/test_scaffold.py proves
it in a throwaway environment). The files are the ``*.tmpl`` files under ``template/``
with ``{{name}}``, ``{{NAME}}``, ``{{dist}}``, ``{{title}}`` and
``{{crm_sync_version}}`` filled in; ``package/`` becomes the plugin's own package.
"""

from __future__ import annotations

import keyword
import re
import sys
from importlib import metadata, resources
from importlib.abc import Traversable
from pathlib import Path

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")

#: Names a plugin package may not take: they would shadow crm-sync, its test kit or a
#: module every environment has.
RESERVED = frozenset(
    {"core", "erp", "plugins", "lead_scoring", "tests", "test", "conftest", "setup"}
)


class ScaffoldError(ValueError):
    """The name or the directory cannot take a new plugin; the message says why."""


def check_name(name: str) -> None:
    """Refuse a name that is not a lower-case Python identifier or would shadow a module."""
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use 2 to 41 lower-case letters, digits and "
            "underscores, starting with a letter (it becomes the package and entry-point name)"
        )
    if name in RESERVED or name in sys.stdlib_module_names:
        raise ScaffoldError(f"{name!r} would shadow the module of that name: choose another")


def _crm_sync_version() -> str:
    try:
        return metadata.version("crm-sync")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def _files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found = []
    for entry in sorted(root.iterdir(), key=lambda item: item.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.extend(_files(entry, relative + "/"))
        elif entry.name.endswith(".tmpl"):
            found.append((relative.removesuffix(".tmpl"), entry))
    return found


def render(text: str, name: str, title: str) -> str:
    """Fill the template placeholders of one file."""
    values = {
        "name": name,
        "NAME": name.upper(),
        "dist": "crm-sync-" + name.replace("_", "-"),
        "title": title,
        "crm_sync_version": _crm_sync_version(),
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def write_plugin(name: str, directory: Path, title: str | None = None) -> list[Path]:
    """Write the plugin package ``name`` into ``directory`` (new or empty); the files written."""
    check_name(name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ScaffoldError(f"{directory} already exists and is not empty: nothing written")
    title = title or "the target"
    template = resources.files("core.scaffold").joinpath("template")
    planned = []
    for relative, source in _files(template):
        parts = relative.split("/")
        if parts[0] == "package":
            parts[0] = name
        planned.append((directory.joinpath(*parts), render(source.read_text("utf-8"), name, title)))
    written = []
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
