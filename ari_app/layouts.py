"""The layouts: which files a render writes for a kind of PBX, rendering them, and writing
them so that nothing a render did not write is replaced.

- `asterisk`: Asterisk's own .conf files whole (render.RENDERERS), for a PBX that is ours.
- `include`: only our objects, for an admin's own files to `#include` (include_layout.py).
- `freepbx`: only the custom files FreePBX includes and never writes (freepbx.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2

from ari_app.errors import RenderError
from ari_app.freepbx import FREEPBX
from ari_app.include_layout import INCLUDE
from ari_app.render import RENDERERS, Layout, environment
from ari_app.settings import Settings

ASTERISK = Layout({name: (f"{name}.j2", build) for name, build in RENDERERS.items()})
LAYOUTS: Mapping[str, Layout] = {"asterisk": ASTERISK, "include": INCLUDE, "freepbx": FREEPBX}


def layout_named(name: str) -> Layout:
    """One of settings.LAYOUTS."""
    if name not in LAYOUTS:
        raise RenderError(f"no layout {name!r} (known: {', '.join(LAYOUTS)})")
    return LAYOUTS[name]


def render_all(settings: Settings, *, source: str, overrides: Path | None = None,
               layout: str = "asterisk") -> dict[str, str]:
    """Render every config file of `layout` to text: {file name: content}."""
    env = environment(overrides)
    out = {}
    for name, (template_name, build) in layout_named(layout).files.items():
        try:
            template = env.get_template(template_name)
            out[name] = template.render(source=source, **build(settings))
        except jinja2.TemplateError as exc:
            raise RenderError(f"{name}: {exc}") from exc
    return out


def write_all(rendered: Mapping[str, str], out_dir: Path, *,
              layout: str = "asterisk") -> list[Path]:
    """Write a render into `out_dir`. A layout with a marker (files beside a PBX's own)
    checks every file first and writes none if one holds lines a render did not write; the
    asterisk layout's files are ours whole, and replace what is there."""
    chosen = layout_named(layout)
    out_dir.mkdir(parents=True, exist_ok=True)
    if chosen.marker:
        for name in rendered:
            if not chosen.is_ours(read_if_any(out_dir / name)):
                raise RenderError(f"{out_dir / name} holds lines ari-app did not write; "
                                  "nothing was written. Move them into your own template "
                                  f"(render --templates DIR, DIR/{chosen.files[name][0]}) "
                                  "and render again")
    paths = []
    for name, content in rendered.items():
        chosen.write(out_dir / name, content)
        paths.append(out_dir / name)
    return paths


def read_if_any(path: Path) -> str | None:
    """A config file's text, None when there is none; unreadable is a RenderError."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RenderError(f"cannot read {path}: {exc}") from exc
