"""The `ari-app keys` command: what a key may call is checked before it is made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ari_app.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "sandbox/ari-app.yaml").read_text())
    data["storage"]["path"] = str(tmp_path / "db.sqlite3")
    path = tmp_path / "ari-app.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_keys_take_country_prefixes(config: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    made = main(["--config", str(config), "keys", "create", "--name", "uk", "--country", "+44",
                 "--country", "+1 212", "--out", str(tmp_path / "key")])
    assert made == 0 and (tmp_path / "key").read_text().startswith("aak_")
    assert main(["--config", str(config), "keys", "list"]) == 0
    assert "destinations: +44,+1212" in capsys.readouterr().out


def test_a_country_that_is_not_a_prefix_makes_no_key(config: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    made = main(["--config", str(config), "keys", "create", "--name", "x", "--country", "UK"])
    assert made == 2 and "number prefixes like +44" in capsys.readouterr().err
    assert main(["--config", str(config), "keys", "list"]) == 0
    assert capsys.readouterr().out == ""
