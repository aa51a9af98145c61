"""The `ari-app` command: serve, render, check-config, call."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ari_app import settings as settings_module
from ari_app.errors import AriAppError, ConfigError
from ari_app.render import render_all, write_all


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ari-app", description="Voice verification calls on Asterisk, through ARI."
    )
    parser.add_argument("--config", type=Path, default=None,
                        help=f"settings file (default: ${settings_module.ENV_VAR})")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API and the ARI application")
    render = sub.add_parser("render", help="write the Asterisk config files")
    render.add_argument("--out", type=Path, required=True, help="folder to write into")
    render.add_argument("--templates", type=Path, default=None,
                        help="folder of templates that override the packaged ones")
    sub.add_parser("check-config", help="validate the settings and templates; write nothing")
    sub.add_parser("engines", help="try every configured speech engine and say how it went")
    call = sub.add_parser("call", help="place one call and print each state until the outcome")
    call.add_argument("request", type=Path, help="JSON body of POST /voice/call/play")
    call.add_argument("--api", default=None, help="API base URL (default: from settings)")
    preview = sub.add_parser("preview", help="write the audio a request's playlist would play")
    preview.add_argument("request", type=Path, help="JSON body with a playlist")
    preview.add_argument("--out", type=Path, required=True, help="WAV file to write (8 kHz)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_module.load(args.config)
        if args.command == "render":
            rendered = render_all(settings, source=str(args.config or "settings"),
                                  overrides=args.templates)
            for path in write_all(rendered, args.out):
                print(f"wrote {path}")
        elif args.command == "check-config":
            render_all(settings, source="check")
            print(f"config OK: {len(settings.carriers)} carrier(s): "
                  f"{', '.join(sorted(settings.carriers)) or 'none'}")
        elif args.command == "engines":
            from ari_app.app import engines
            from ari_app.health import check_engine

            async def check_all() -> bool:
                ok = True
                for engine in engines(settings):
                    health = await check_engine(engine)
                    ok = ok and health.ok
                    state = "ok" if health.ok else f"FAILING: {health.error}"
                    print(f"{engine.name:10} {state} ({health.milliseconds:.0f} ms)")
                return ok

            return 0 if asyncio.run(check_all()) else 1
        elif args.command == "serve":
            from ari_app.app import serve

            asyncio.run(serve(settings))
        elif args.command == "call":
            from ari_app.api_client import place_call

            body = json.loads(args.request.read_text(encoding="utf-8"))
            api = args.api or f"http://{settings.listen}"
            return asyncio.run(place_call(api, body))
        elif args.command == "preview":
            from ari_app.app import preview as render_preview

            body = json.loads(args.request.read_text(encoding="utf-8"))
            wav = asyncio.run(render_preview(settings, body))
            args.out.write_bytes(wav)
            print(f"wrote {args.out} ({(len(wav) - 44) / 16000:.2f} s)")
    except (OSError, ValueError) as exc:
        print(f"ari-app: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"ari-app: {exc}", file=sys.stderr)
        return 2
    except AriAppError as exc:
        print(f"ari-app: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
