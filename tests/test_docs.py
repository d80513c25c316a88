"""The integrator guide documents every hook with its exact arguments."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from core import hookspecs
from core.plugins import hook_names

GUIDE = Path(__file__).parents[1] / "docs" / "plugins.md"


def documented_hooks() -> dict[str, list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    found = {}
    for name, arguments in re.findall(r"^### (crm_sync_\w+)\(([^)]*)\)", text, re.MULTILINE):
        found[name] = [part.strip() for part in arguments.split(",") if part.strip()]
    return found


@pytest.mark.parametrize("hook", list(hook_names()))
def test_every_hook_is_documented_with_its_arguments(hook: str) -> None:
    documented = documented_hooks()
    assert hook in documented, f"docs/plugins.md has no '### {hook}(...)' heading"
    expected = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert documented[hook] == expected


def test_guide_documents_no_hook_that_does_not_exist() -> None:
    assert set(documented_hooks()) <= set(hook_names())
