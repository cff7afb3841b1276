"""The JSON Schema of the definition format, for editors (YAML language servers) and tools."""

from __future__ import annotations

from typing import Any

from pipelines.spec.models import DefinitionsFile

SCHEMA_FILE = "kpi-definitions.schema.json"


def definitions_json_schema() -> dict[str, Any]:
    schema = DefinitionsFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "funnel-kpi definitions"
    schema["description"] = (
        "One file of kpi_definitions/: settings, calendar, dimensions, funnels, KPIs, targets, "
        "activity points and top performers. See docs/kpi-definitions.md."
    )
    return schema
