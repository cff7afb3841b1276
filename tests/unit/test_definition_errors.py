"""`kpi check`: one precise message per mistake, and never a traceback (property-based)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.settings import DEFAULT_DEFINITIONS, PROJECT_ROOT
from pipelines.spec.loader import DefinitionError, load_definitions
from pipelines.spec.schema import definitions_json_schema

BROKEN = PROJECT_ROOT / "tests" / "fixtures" / "broken_definitions"
KPI = str(Path(sys.executable).parent / "kpi")


def test_broken_folder_gives_one_precise_message_per_mistake():
    result = subprocess.run(
        [KPI, "check", "--definitions", "tests/fixtures/broken_definitions"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    expected = (BROKEN / "expected_messages.txt").read_text()
    assert result.stderr == expected
    messages = [line for line in expected.splitlines() if line.count(":") >= 3]
    numbered = sum(
        1
        for f in BROKEN.glob("*.yml")
        for line in f.read_text().splitlines()
        if "#" in line and line.split("#", 1)[1].strip()[:1].isdigit()
    )
    assert len(messages) == numbered  # every numbered mistake, nothing more
    assert "Traceback" not in result.stderr


def test_shipped_definitions_pass_kpi_check():
    result = subprocess.run([KPI, "check"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def shipped_documents() -> dict[str, object]:
    return {
        p.name: yaml.safe_load(p.read_text()) for p in sorted(DEFAULT_DEFINITIONS.glob("*.yml"))
    }


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=False),
    st.text(max_size=12), st.sampled_from(["calls", "status = 'won'", "team", "rep", "all",
                                            "closed_at", "1;drop table x", "(select 1)", ""]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def mutate(document: object, data: st.DataObject) -> object:
    """Replace, delete or add one value somewhere in a parsed YAML document."""
    if isinstance(document, dict) and document:
        key = data.draw(st.sampled_from(sorted(document, key=str)))
        action = data.draw(st.sampled_from(["replace", "delete", "descend", "add"]))
        out = dict(document)
        if action == "replace":
            out[key] = data.draw(VALUES)
        elif action == "delete":
            del out[key]
        elif action == "add":
            out[data.draw(st.text(max_size=10))] = data.draw(VALUES)
        else:
            out[key] = mutate(document[key], data)
        return out
    if isinstance(document, list) and document:
        i = data.draw(st.integers(0, len(document) - 1))
        out = list(document)
        out[i] = mutate(document[i], data) if data.draw(st.booleans()) else data.draw(VALUES)
        return out
    return data.draw(VALUES)


def check_folder(folder: Path) -> None:
    """Loading either succeeds or raises DefinitionError whose problems all have positions."""
    try:
        load_definitions(folder)
    except DefinitionError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line >= 1 and problem.column >= 1
            assert problem.message and "Traceback" not in problem.message


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_definitions_give_messages_not_tracebacks(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("mutated")
    docs = shipped_documents()
    victim = data.draw(st.sampled_from(sorted(docs)))
    for name, doc in docs.items():
        doc = mutate(doc, data) if name == victim else doc
        (folder / name).write_text(yaml.safe_dump(doc, allow_unicode=True))
    check_folder(folder)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200))
def test_random_text_gives_messages_not_tracebacks(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("random")
    (folder / "random.yml").write_text(text, encoding="utf-8")
    check_folder(folder)


def test_json_schema_is_published_and_current():
    published = json.loads((DEFAULT_DEFINITIONS / "kpi-definitions.schema.json").read_text())
    assert published == definitions_json_schema()
    assert {"funnels", "kpis", "calendar", "targets", "top_performers"} <= set(
        published["properties"]
    )
