"""Settings: every problem listed at once; nothing that alters Asterisk config syntax passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.config import load, parse
from ari_app.config_reader import Secret
from ari_app.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def sandbox() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "sandbox/ari-app.yaml").read_text())  # type: ignore[no-any-return]


def problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(data, base=ROOT)
    return caught.value.problems


def test_shipped_configs_load() -> None:
    sandbox_settings = load(ROOT / "sandbox/ari-app.yaml")
    assert sandbox_settings.carriers["74445609"].trunk == "carrier-74445609"
    assert sandbox_settings.listen.port == 8080
    example = load(ROOT / "config.example.yaml")
    assert example.listen.host == "127.0.0.1"
    assert example.asterisk.http.host == "127.0.0.1" and example.asterisk.ami.host == "127.0.0.1"


def test_defaults_bind_to_loopback() -> None:
    settings = parse({"ari": {"password": "x"}, "ami": {"secret": "y"}}, base=ROOT)
    assert str(settings.listen) == "127.0.0.1:8080"
    assert {settings.asterisk.sip.host, settings.asterisk.http.host,
            settings.asterisk.ami.host} == {"127.0.0.1"}


def test_environment_variable_picks_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARI_APP_CONFIG", str(ROOT / "sandbox/ari-app.yaml"))
    assert "74445609" in load().carriers
    monkeypatch.delenv("ARI_APP_CONFIG")
    with pytest.raises(ConfigError, match="--config"):
        load()


def test_every_problem_is_reported_together() -> None:
    data = sandbox()
    data["http"]["listen"] = "nowhere"
    data["calls"]["ring_timeout"] = 0
    data["carriers"]["74445609"]["transport"] = "carrier-pigeon"
    data["carriers"]["74445609"]["codecs"] = ["ulaw", "mp3"]
    data["colour"] = "blue"
    found = problems(data)
    assert len(found) == 5, found
    for key in ("http.listen", "calls.ring_timeout", "carriers.74445609.transport",
                "carriers.74445609.codecs[1]", "colour"):
        assert any(p.startswith(key + ":") for p in found), (key, found)


@pytest.mark.parametrize("bad", ["evil\nhost", "a;b", "[trunk]", "host]", "#include x",
                                 "x=y", "${SHELL(id)}", "a\rb"])
def test_config_syntax_in_values_is_refused_naming_the_key(bad: str) -> None:
    data = sandbox()
    data["carriers"]["74445609"]["host"] = bad
    found = problems(data)
    assert found and found[0].startswith("carriers.74445609.host:"), found


@pytest.mark.parametrize(("section", "key"), [("ari", "password"), ("ami", "secret")])
def test_secrets_refuse_line_breaks(section: str, key: str) -> None:
    data = sandbox()
    data[section][key] = "pass\n[evil]"
    assert problems(data)[0].startswith(f"{section}.{key}:")


def test_secrets_keep_punctuation_and_never_print() -> None:
    settings = parse(sandbox(), base=ROOT)
    assert settings.ari.password.reveal() == "sandbox&ari#pass+word@1"
    assert "sandbox&ari" not in repr(settings)
    assert str(Secret("hunter2")) == "Secret('********')"


def test_registration_needs_credentials() -> None:
    data = sandbox()
    data["carriers"]["74445609"]["register"] = True
    assert any(p.startswith("carriers.74445609.register:") for p in problems(data))


def test_relative_paths_follow_the_config_file() -> None:
    settings = load(ROOT / "sandbox/ari-app.yaml")
    assert settings.storage_path == ROOT / "sandbox/../var/ari-app.sqlite3"
    assert settings.media.host_map["server.domain.com"].port == 8090


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ari: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)
    python = tmp_path / "python.yaml"
    python.write_text("ari: !!python/object/apply:os.system ['true']")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(python)


def test_lifecycle_settings_are_checked() -> None:
    data = sandbox()
    data["callbacks"] = {"url": "ftp://hooks.example.com/x"}
    data["carriers"]["74445609"] |= {"number_format": "national", "max_cps": 0,
                                     "failover_group": "a b"}
    found = problems(data)
    for key in ("callbacks.url", "callbacks.secret", "carriers.74445609.country_code",
                "carriers.74445609.max_cps", "carriers.74445609.failover_group"):
        assert any(p.startswith(f"{key}:") for p in found), (key, found)


def test_carriers_file_adds_carriers_and_may_not_redefine_one(tmp_path: Path) -> None:
    data = sandbox()
    data["carriers_file"] = str(tmp_path / "carriers.yaml")
    (tmp_path / "carriers.yaml").write_text("extra:\n  host: 10.0.0.1\n")
    settings = parse(data, base=ROOT)
    assert settings.managed == {"extra"} and "74445609" in settings.carriers
    (tmp_path / "carriers.yaml").write_text("'74445609':\n  host: 10.0.0.1\n")
    assert any("defined both" in p for p in problems(data))


def test_carriers_file_missing_is_none_yet_and_unreadable_is_a_problem(tmp_path: Path) -> None:
    data = sandbox()
    data["carriers_file"] = str(tmp_path / "carriers.yaml")
    assert parse(data, base=ROOT).managed == frozenset()
    (tmp_path / "carriers.yaml").mkdir()
    assert any("cannot read" in p for p in problems(data))
    (tmp_path / "carriers.yaml").rmdir()
    (tmp_path / "carriers.yaml").write_text("extra: [unclosed")
    assert any("not valid YAML" in p for p in problems(data))


def test_destination_prefixes_are_kept_as_digits() -> None:
    data = sandbox()
    data["destinations"] = {"allowed_countries": ["+44", "1"], "allow_ranges": ["+1 900"],
                            "deny": ["+44 7700 900"]}
    policy = parse(data, base=ROOT).destinations.policy
    assert policy.allowed == ("44", "1") and policy.allow_ranges == ("1900",)
    assert policy.deny == ("447700900",)
    data["destinations"]["deny"] = ["+44", "UK"]
    assert any(p.startswith("destinations.deny[1]:") for p in problems(data))


def test_postgresql_storage_and_the_cluster_section() -> None:
    data = sandbox()
    data["storage"] = {"url": "postgresql://ari_app:s3cret@db.example/ari_app"}
    data["cluster"] = {"instance": "node-a"}
    settings = parse(data, base=ROOT)
    assert settings.storage_url == Secret("postgresql://ari_app:s3cret@db.example/ari_app")
    assert "s3cret" not in repr(settings)
    assert settings.cluster is not None and settings.cluster.instance == "node-a"
    assert settings.stasis_app == "ari-app-node-a"  # one Stasis application per instance
    data["storage"]["path"] = "var/other.sqlite3"
    data["cluster"] |= {"heartbeat": 5, "dead_after": 6, "instance": "Node A"}
    found = problems(data)
    for key in ("storage.path", "cluster.instance", "cluster.dead_after"):
        assert any(p.startswith(key + ":") for p in found), (key, found)
    data["storage"] = {"url": "mysql://db/x"}
    assert any(p.startswith("storage.url:") for p in problems(data))
    data["storage"] = {"path": "var/x.sqlite3"}
    data["cluster"] = {"instance": "a"}
    assert any("set storage.url" in p for p in problems(data))


def test_nodes_each_name_their_asterisk() -> None:
    data = sandbox()
    data["asterisk"]["nodes"] = [{"name": "pbx1"}, {"name": "pbx1", "ari": {"url": "x"}}, 7]
    found = problems(data)
    for key in ("asterisk.nodes[1].name", "asterisk.nodes[1].ari.url", "asterisk.nodes[2]"):
        assert any(p.startswith(key + ":") for p in found), (key, found)
    data["asterisk"]["nodes"] = []
    assert any(p.startswith("asterisk.nodes:") for p in problems(data))
