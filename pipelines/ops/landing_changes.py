"""What changed in the landing folders since the last look: the landing sensor's cursor.

The cursor records, per landing file, its size, mtime and SHA-256. A scan re-hashes only files whose
size or mtime moved, so a tick costs a `stat` per file; a file whose content is unchanged (touched,
copied over with the same bytes) is not a change. Files modified within the last `settle` seconds are
still being written: they are left out of this scan (their previous state, if any, is kept) and show
up in a later tick.

`diff_states` is pure: two states in, the change set out.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.contract import ENTITIES
from pipelines.ingest.loader import landing_files

CURSOR_VERSION = 1


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    sha256: str


LandingState = dict[str, FileState]  # landing-relative path → state


@dataclass(frozen=True)
class ChangeSet:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def entities(self) -> tuple[str, ...]:
        """Landing entities with at least one added, changed or removed file."""
        paths = (*self.added, *self.changed, *self.removed)
        return tuple(sorted({p.split("/", 1)[0] for p in paths}))

    def summary(self, limit: int = 5) -> str:
        parts = []
        for label, paths in (("new", self.added), ("changed", self.changed),
                             ("removed", self.removed)):  # fmt: skip
            if paths:
                shown = ", ".join(paths[:limit]) + (" …" if len(paths) > limit else "")
                parts.append(f"{len(paths)} {label} ({shown})")
        return "; ".join(parts) or "no changes"


def diff_states(previous: Mapping[str, FileState], current: Mapping[str, FileState]) -> ChangeSet:
    """Files added, changed in content (checksum) and removed between two landing states."""
    both = set(current) & set(previous)
    return ChangeSet(
        added=tuple(sorted(set(current) - set(previous))),
        changed=tuple(sorted(p for p in both if current[p].sha256 != previous[p].sha256)),
        removed=tuple(sorted(set(previous) - set(current))),
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_landing(
    landing: Path,
    previous: Mapping[str, FileState] | None = None,
    *,
    settle_seconds: float = 0,
    now: float | None = None,
    entities: Iterable[str] = ENTITIES,
) -> LandingState:
    """The state of every landing file, hashing only what moved since `previous`."""
    previous = previous or {}
    now = time.time() if now is None else now
    state: LandingState = {}
    for entity in entities:
        for relative, path in landing_files(landing, entity):
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while we looked
                continue
            before = previous.get(relative)
            if now - stat.st_mtime < settle_seconds:
                if before is not None:
                    state[relative] = before  # still being written: judge it next time
                continue
            if before and (before.size, before.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                state[relative] = before
            else:
                state[relative] = FileState(stat.st_size, stat.st_mtime_ns, sha256_of(path))
    return state


def encode_cursor(state: Mapping[str, FileState]) -> str:
    files = {p: [s.size, s.mtime_ns, s.sha256] for p, s in sorted(state.items())}
    return json.dumps({"v": CURSOR_VERSION, "files": files}, separators=(",", ":"))


def decode_cursor(cursor: str | None) -> LandingState:
    """The state recorded in a cursor; empty for no cursor or one in an older format."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        return {}
    return {p: FileState(int(v[0]), int(v[1]), str(v[2])) for p, v in data["files"].items()}


def state_digest(state: Mapping[str, FileState]) -> str:
    """One id for a landing state, used as the run key of the run it triggers.

    mtimes are part of it: the same files delivered again later are a new delivery, not a repeat.
    """
    digest = hashlib.sha256()
    for path, s in sorted(state.items()):
        digest.update(f"{path}\0{s.size}\0{s.mtime_ns}\0{s.sha256}\n".encode())
    return digest.hexdigest()[:16]
