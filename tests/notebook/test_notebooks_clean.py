"""Committed notebooks carry no outputs or execution counts, and nothing that looks like a private key or an API
key id; each one explains itself in markdown and tells how to reach real Kalshi without pasting keys."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.notebook.nb_testkit import NOTEBOOKS, notebook_files

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# A key id next to the variable's name: KALSHI_API_KEY_ID=..., "KALSHI_API_KEY_ID": "...", os.environ[...] = ...
KEY_ID_NEAR_NAME = re.compile(r"KALSHI_API_KEY_ID.{0,40}?" + UUID + "|" + UUID + r".{0,40}?KALSHI_API_KEY_ID", re.S)
PEM = "-----BEGIN"


def secrets_in(text: str) -> list[str]:
    """What in ``text`` looks like a private key or a Kalshi API key id."""
    found = []
    if PEM in text:
        found.append("a PEM block (-----BEGIN ...)")
    found.extend(f"an API key id: {m.group(0)[:60]!r}" for m in KEY_ID_NEAR_NAME.finditer(text))
    return found


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def notebook_texts(nb: dict[str, Any]) -> list[str]:
    """Every cell source and every output text of a notebook, and its metadata."""
    texts = [json.dumps(nb.get("metadata", {}))]
    for cell in nb["cells"]:
        texts.append(_text(cell.get("source", "")))
        for out in cell.get("outputs", []):
            texts.append(_text(out.get("text", "")))
            texts.extend(_text(v) for v in out.get("data", {}).values())
            texts.append(_text(out.get("evalue", "")) + _text(out.get("traceback", "")))
    return texts


def test_there_are_notebooks() -> None:
    names = {p.name for p in notebook_files()}
    assert {
        "01_quickstart_live.ipynb",
        "02_record_and_replay.ipynb",
        "03_stop_loss_sweep.ipynb",
        "dashboard_voila.ipynb",
    } <= names, names


@pytest.mark.parametrize("path", notebook_files(), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} carries saved widget state"


@pytest.mark.parametrize("path", notebook_files(), ids=lambda p: p.name)
def test_notebook_holds_no_keys(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = [s for t in notebook_texts(nb) for s in secrets_in(t)]
    assert not found, f"{path.name}: {found}"


def test_the_scanner_finds_planted_keys() -> None:
    fake_id = "a952bcbe-ec3b-4b5b-b8f9-11111111aaaa"
    planted = {
        "metadata": {},
        "cells": [
            {"cell_type": "code", "source": f'os.environ["KALSHI_API_KEY_ID"] = "{fake_id}"', "outputs": []},
            {
                "cell_type": "code",
                "source": "x",
                "outputs": [{"output_type": "stream", "text": ["-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n"]}],
            },
            {"cell_type": "markdown", "source": f"KALSHI_API_KEY_ID={fake_id}"},
        ],
    }
    found = [s for t in notebook_texts(planted) for s in secrets_in(t)]
    assert len(found) == 3, found
    assert not secrets_in("KALSHI_API_KEY_ID=<your key id>\nKALSHI_PRIVATE_KEY_PATH=/path/to/your-kalshi.key")


@pytest.mark.parametrize("path", [p for p in notebook_files() if p.name[:2].isdigit()], ids=lambda p: p.name)
def test_numbered_notebooks_explain_themselves(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and _text(cells[0]["source"]).startswith("# ")
    markdown = sum(1 for c in cells if c["cell_type"] == "markdown")
    code = sum(1 for c in cells if c["cell_type"] == "code")
    assert markdown >= 3 and markdown >= code // 2, f"{path.name}: {markdown} markdown cells for {code} code cells"


def test_quickstart_says_real_kalshi_is_one_setting_away() -> None:
    nb = json.loads((NOTEBOOKS / "01_quickstart_live.ipynb").read_text(encoding="utf-8"))
    first = _text(nb["cells"][0]["source"])
    for needed in ("KALSHI_ENV=demo", "KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "Never paste"):
        assert needed in first, needed
    assert any("kit.stop()" in _text(c["source"]) for c in nb["cells"][-2:])


def test_voila_page_is_documented() -> None:
    nb = json.loads((NOTEBOOKS / "dashboard_voila.ipynb").read_text(encoding="utf-8"))
    assert "voila notebooks/dashboard_voila.ipynb" in _text(nb["cells"][0]["source"])
