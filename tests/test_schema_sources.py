"""Where the upstream CRD schemas come from (tests/support/schemas.py, issue 28 item 11): the
Go module cache by module path and version, downloaded when missing, else ../shared/schemas,
else the schema tests skip saying why; never a failure because the network is away."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import schemas


@pytest.fixture
def fresh() -> Iterator[None]:
    schemas.found.cache_clear()
    yield
    schemas.found.cache_clear()


def fake_go(tmp_path: Path, monkeypatch, answers: dict[str, dict], log: Path) -> None:
    """A ``go`` on PATH that answers ``go mod download -json <ref>`` from ``answers`` and
    records each call with its GOPROXY."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "go"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"answers = json.loads({json.dumps(json.dumps(answers))})\n"
        f"log = open({str(log)!r}, 'a')\n"
        "log.write(sys.argv[-1] + ' ' + os.environ.get('GOPROXY', '') + '\\n')\n"
        "print(json.dumps(answers.get(sys.argv[-1], {'Error': 'not found'})))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.delenv("GOPROXY", raising=False)
    monkeypatch.delenv("KLUTCH_SCHEMAS_FETCH", raising=False)


def test_a_module_in_the_go_cache_is_read_from_there(tmp_path, monkeypatch, fresh):
    up = schemas.UPSTREAMS[1]  # provider-sql
    module = tmp_path / "mod"
    (module / "package" / "crds").mkdir(parents=True)
    log = tmp_path / "log"
    fake_go(tmp_path, monkeypatch, {up.ref: {"Dir": str(module)}}, log)
    by_name = {f.upstream.name: f for f in schemas.found()}
    assert by_name["provider-sql"].folders == (module / "package" / "crds",)
    assert f"Go module {up.ref}" in by_name["provider-sql"].source
    # asked the cache first, without the network
    assert f"{up.ref} off" in log.read_text().splitlines()


def test_a_module_not_cached_is_downloaded_unless_turned_off(tmp_path, monkeypatch, fresh):
    log = tmp_path / "log"
    fake_go(tmp_path, monkeypatch, {}, log)
    schemas.found()
    proxies = {line.split(" ", 1)[1] for line in log.read_text().splitlines()}
    assert proxies == {"off", ""}  # the cache, then the proxy
    schemas.found.cache_clear()
    log.unlink()
    monkeypatch.setenv("KLUTCH_SCHEMAS_FETCH", "0")
    schemas.found()
    assert {line.split(" ", 1)[1] for line in log.read_text().splitlines()} == {"off"}


def test_a_refused_module_falls_back_to_shared_schemas_and_says_so(tmp_path, monkeypatch, fresh):
    shared = tmp_path / "shared"
    for up in schemas.UPSTREAMS:
        (shared / up.fallback).mkdir(parents=True)
    monkeypatch.setattr(schemas, "SCHEMAS", shared)
    refused = {"Error": "reading https://proxy.golang.org/...: 403 Forbidden"}
    fake_go(tmp_path, monkeypatch, {up.ref: refused for up in schemas.UPSTREAMS}, tmp_path / "l")
    lines = schemas.describe()
    assert len(lines) == len(schemas.UPSTREAMS)
    assert all(str(shared) in line and "403 Forbidden" in line for line in lines)
    assert schemas.require_schemas() == tuple(shared / up.fallback for up in schemas.UPSTREAMS)


def test_without_go_or_shared_schemas_the_schema_tests_skip(tmp_path, monkeypatch, fresh):
    monkeypatch.setattr(schemas, "SCHEMAS", tmp_path / "nowhere")
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(pytest.skip.Exception, match="go is not installed"):
        schemas.require_schemas()
