"""The persistent Dagster instance under the warehouse, shared by `kpi run` and `make ui`.

Both use `<warehouse>/dagster_home` (or `$DAGSTER_HOME`), so runs started either way show up in the
same UI. The instance's `dagster.yaml` is written by this module; a file without the marker line
below is treated as hand-edited and left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.settings import Settings

MARKER = "# Managed by funnel-kpi (pipelines/ops/instance.py); remove this line to keep your edits."
LEGACY_CONFIGS = ("telemetry:\n  enabled: false\n",)

DAGSTER_YAML = f"""{MARKER}
telemetry:
  enabled: false
"""


def dagster_home(settings: Settings) -> Path:
    """`$DAGSTER_HOME` if set, else `<warehouse>/dagster_home`."""
    return Path(os.environ.get("DAGSTER_HOME", settings.warehouse / "dagster_home")).resolve()


def ensure_instance_config(home: Path) -> Path:
    """Create `home` and write its dagster.yaml unless someone has edited it by hand."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text(encoding="utf-8") if config.exists() else None
    managed = current is None or current in LEGACY_CONFIGS or current.startswith(MARKER)
    if managed and current != DAGSTER_YAML:
        tmp = config.with_suffix(".yaml.tmp")
        tmp.write_text(DAGSTER_YAML, encoding="utf-8")
        os.replace(tmp, config)
    return config
