"""The include layout, for an Asterisk with its own config: only our objects, in four files
the admin's own files `#include`, on the PBX's transports where asterisk.transports names
them, and the same objects as the asterisk layout's pjsip.conf.

Golden files in tests/unit/golden/include/, rendered from golden/settings.yaml with the
PBX's own UDP and TCP transports named. After an intended template change:
UPDATE_GOLDEN=1 pytest tests/unit/test_include_layout.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ari_app.config import parse
from ari_app.errors import RenderError
from ari_app.include_layout import FILES, MARKER
from ari_app.layouts import render_all, write_all
from ari_app.settings import Settings
from tests.support.golden import check_golden, objects

GOLDEN = Path(__file__).parent / "golden"


def settings() -> Settings:
    data = yaml.safe_load((GOLDEN / "settings.yaml").read_text())
    data["asterisk"] |= {"layout": "include",
                         "transports": {"udp": "transport-udp", "tcp": "transport-tcp"}}
    return parse(data, base=GOLDEN)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all(settings(), source="golden/settings.yaml", layout="include")


@pytest.mark.parametrize("name", sorted(FILES))
def test_rendered_file_matches_golden(rendered: dict[str, str], name: str) -> None:
    check_golden(GOLDEN / "include" / name, rendered[name])


def test_only_our_objects_no_section_the_pbx_owns(rendered: dict[str, str]) -> None:
    assert set(rendered) == {"pjsip_ari-app.conf", "extensions_ari-app.conf",
                             "ari_ari-app.conf", "manager_ari-app.conf"}
    assert all(text.startswith(MARKER) for text in rendered.values())
    for text in rendered.values():
        assert not {"general", "globals", "global"} & {n for n, _, _ in objects(text)}
    transports = [n for n, t, _ in objects(rendered["pjsip_ari-app.conf"]) if t == "transport"]
    assert transports == ["ari-app-tls"]  # the PBX's own UDP and TCP hold 5060
    used = {name: dict(options)["transport"] for name, t, options
            in objects(rendered["pjsip_ari-app.conf"]) if t in ("endpoint", "registration")}
    assert used == {"carrier-74445609": "transport-udp", "carrier-acme": "transport-tcp",
                    "carrier-acme-reg": "transport-tcp", "carrier-secure": "ari-app-tls"}
    # The admin's file includes ours, not the other way.
    assert "\n#include" not in rendered["pjsip_ari-app.conf"]


def test_the_same_objects_as_the_asterisk_layout(rendered: dict[str, str]) -> None:
    ours = render_all(settings(), source="x", layout="asterisk")
    assert objects(rendered["pjsip_ari-app.conf"]) == objects(ours["pjsip.conf"])
    assert [o for o in objects(ours["extensions.conf"]) if o[0] != "general"] == \
        objects(rendered["extensions_ari-app.conf"])


def test_an_admin_s_own_file_of_that_name_is_never_replaced(tmp_path: Path,
                                                           rendered: dict[str, str]) -> None:
    (tmp_path / "manager_ari-app.conf").write_text("[mine]\nsecret = x\n")
    with pytest.raises(RenderError, match="holds lines ari-app did not write"):
        write_all(rendered, tmp_path, layout="include")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manager_ari-app.conf"]
