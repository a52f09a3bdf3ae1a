"""The region table matches botocore's offline endpoint data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import botocore

from function.regions import REGIONS

PARTITIONS = {"aws", "aws-cn", "aws-us-gov"}


def botocore_regions() -> dict[str, str]:
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    return {
        region: p["partition"]
        for p in data["partitions"]
        if p["partition"] in PARTITIONS
        for region in p["regions"]
    }


def test_every_region_we_accept_exists_in_its_partition():
    known = botocore_regions()
    assert {r: p for r, p in REGIONS.items() if known.get(r) != p} == {}


def test_we_accept_every_region_botocore_knows():
    assert sorted(set(botocore_regions()) - set(REGIONS)) == []


def test_runtime_imports_nothing_heavy():
    code = (
        "import sys, function.fn, function.main; "
        "bad = [m for m in ('boto3','botocore','moto','hypothesis','yaml','jsonschema') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
