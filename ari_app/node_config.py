"""The config file's `asterisk.nodes`: several Asterisk nodes, each with its ARI and AMI
(over the top-level `ari:` and `ami:`, so shared credentials are written once) and the
folder its carrier config is rendered into."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ari_app.config_reader import Reader
from ari_app.settings import AmiSettings, AriSettings, NodeSettings

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def read_nodes(raw: object, *, ari: object, ami: object, base: Path, problems: list[str],
               read_ari: Callable[[Reader], AriSettings],
               read_ami: Callable[[Reader], AmiSettings]) -> tuple[NodeSettings, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        problems.append("asterisk.nodes: must be a list of nodes (name, ari, ami)")
        return ()
    nodes: list[NodeSettings] = []
    for index, item in enumerate(raw):
        key = f"asterisk.nodes[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{key}: must be a mapping (name, ari, ami, config_dir)")
            continue
        reader = Reader(item, f"{key}.", problems)
        name = reader.text("name", None, pattern=_NAME)
        if not name:
            problems.append(f"{key}.name: is required (lower case letters, digits, -)")
        elif name in {n.name for n in nodes}:
            problems.append(f"{key}.name: {name} is named twice")
        node_ari = read_ari(Reader(_over(ari, reader.raw("ari", {})), f"{key}.ari.", problems))
        node_ami = read_ami(Reader(_over(ami, reader.raw("ami", {})), f"{key}.ami.", problems))
        folder = reader.text("config_dir", None, conf=False)
        reader.finish()
        nodes.append(NodeSettings(name or f"node-{index}", node_ari, node_ami,
                                  base / folder if folder else None))
    return tuple(nodes)


def _over(top: object, node: object) -> dict[str, Any]:
    """A node's section over the top-level one: what the node leaves out, it shares."""
    return {**(top if isinstance(top, dict) else {}), **(node if isinstance(node, dict) else {})}
