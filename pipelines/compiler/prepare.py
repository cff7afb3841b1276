"""Make the dbt project ready to run for a set of definitions: generated files and manifest.

The shipped definitions use the committed `kpi_models/` as is (after checking it is in sync);
other definitions folders get a staged copy under the warehouse, compiled from their YAML, so a user
can declare new funnels without touching the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipelines.compiler.project import GENERATED_DIR, check_project_files, write_project_files
from pipelines.settings import DEFAULT_DBT_PROJECT, Settings
from pipelines.spec.loader import Definitions, load_definitions

MANIFEST = Path("target") / "manifest.json"


class ProjectOutOfDate(Exception):
    pass


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def prepare_dbt_project(settings: Settings, definitions: Definitions | None = None) -> Path:
    """Return the dbt project dir for `settings`, with generated files and an up-to-date manifest."""
    defs = definitions or load_definitions(settings.definitions)
    project = settings.dbt_project
    if settings.uses_shipped_definitions:
        drift = check_project_files(defs, project)
        if drift:
            lines = "\n  ".join(str(d) for d in drift)
            raise ProjectOutOfDate(
                f"generated dbt files are out of date with {settings.definitions}:\n  {lines}\n"
                "run `kpi compile` and commit the result"
            )
    else:
        _stage_copy(project)
        write_project_files(defs, project)
    ensure_manifest(project, settings)
    return project


def _stage_copy(target: Path) -> None:
    """Copy the shipped dbt project (without generated models and build output) to `target`."""
    ignore_generated = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")
    if target.exists():
        shutil.rmtree(target / "models", ignore_errors=True)
        shutil.rmtree(target / "macros", ignore_errors=True)
        shutil.rmtree(target / "tests", ignore_errors=True)
    shutil.copytree(DEFAULT_DBT_PROJECT, target, ignore=ignore_generated, dirs_exist_ok=True)
    generated = target / GENERATED_DIR
    for path in generated.glob("*"):
        path.unlink()


def ensure_manifest(project: Path, settings: Settings) -> Path:
    """Run `dbt parse` when the manifest is missing or older than any project file."""
    manifest = project / MANIFEST
    sources = [
        p
        for folder in ("models", "macros", "tests")
        for p in (project / folder).rglob("*")
        if p.is_file()
    ] + [project / "dbt_project.yml", project / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return manifest
    env = {**os.environ, **settings.env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(project),
         "--profiles-dir", str(project)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed in {project}:\n{result.stdout}\n{result.stderr}")
    return manifest
