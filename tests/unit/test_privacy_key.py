"""Where the pseudonymisation key comes from (pipelines/privacy.py, docs/reliability.md)."""

from __future__ import annotations

import os

import pytest

from pipelines.privacy import (
    KEY_ENV,
    SAMPLE_KEY,
    MissingPseudonymKey,
    ensure_pseudonym_key,
    mark_sample_landing,
)


def test_the_key_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "x" * 40)
    assert ensure_pseudonym_key(tmp_path) == "environment"


def test_no_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(MissingPseudonymKey, match=f"{KEY_ENV} is not set.*export {KEY_ENV}="):
        ensure_pseudonym_key(tmp_path)


def test_a_short_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret")
    with pytest.raises(MissingPseudonymKey, match="too short"):
        ensure_pseudonym_key(tmp_path)


def test_sample_data_runs_with_the_public_sample_key(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    mark_sample_landing(tmp_path)
    assert ensure_pseudonym_key(tmp_path) == "sample"
    assert os.environ[KEY_ENV] == SAMPLE_KEY
    # A real key always wins over the marker.
    monkeypatch.setenv(KEY_ENV, "y" * 40)
    assert ensure_pseudonym_key(tmp_path) == "environment"
