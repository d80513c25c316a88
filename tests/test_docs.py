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


def test_the_record_reference_is_generated_from_the_schemas() -> None:
    from core.record_reference import documented, markdown

    assert documented(GUIDE.read_text(encoding="utf-8")) == markdown(), (
        "docs/plugins.md's record fields differ from the schemas: "
        "run `python -m core.record_reference`"
    )


def test_the_record_reference_lists_every_kind_and_every_field() -> None:
    from core.kinds import KINDS
    from core.record_reference import documented

    reference = documented(GUIDE.read_text(encoding="utf-8"))
    sections = reference.split("#### ")
    for kind in KINDS.values():
        [section] = [s for s in sections if s.startswith(f"{kind.type} (`{kind.name}`")]
        for field in kind.schema.model_json_schema(mode="serialization")["properties"]:
            assert f"| `{field}` |" in section, f"{kind.type}.{field} is not in the reference"


def test_the_push_example_is_the_plugin_that_plugin_new_writes() -> None:
    from core.scaffold import render

    text = GUIDE.read_text(encoding="utf-8")
    block = text.split("<!-- push example:", 1)[1].split("<!-- end of push example -->", 1)[0]
    code = block.split("```python\n", 1)[1].rsplit("```", 1)[0]
    template = Path(__file__).parents[1] / "core" / "scaffold" / "template" / "package"
    assert code == render((template / "plugin.py.tmpl").read_text(), "my_plugin", "Acme ERP")
    settings = render((template / "settings.py.tmpl").read_text(), "my_plugin", "Acme ERP")
    snippet = text.split("Its settings model is\n\n```python\n", 1)[1].split("```", 1)[0]
    for line in snippet.splitlines():
        assert line in settings.splitlines(), (
            f"the guide's settings line {line!r} is not the template's"
        )
