"""The `ari-app` command: serve, render, check-config, call, verify, keys, preview, engines,
install-service."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from ari_app import config
from ari_app.errors import AriAppError, ConfigError
from ari_app.install import install_service, installed_version
from ari_app.layouts import render_all, write_all
from ari_app.settings import LAYOUTS, Settings

KEY_ENV = "ARI_APP_KEY"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ari-app", description="Voice verification calls on Asterisk, through ARI."
    )
    parser.add_argument("--config", type=Path, default=None,
                        help=f"settings file (default: ${config.ENV_VAR})")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API and the ARI application")
    render = sub.add_parser("render", help="write the Asterisk config files")
    render.add_argument("--out", type=Path, required=True, help="folder to write into")
    render.add_argument("--layout", choices=LAYOUTS, default=None,
                        help="asterisk: Asterisk's own .conf files; include: only our objects, "
                             "for your own files to #include; freepbx: only FreePBX's custom "
                             "include files (default: asterisk.layout)")
    render.add_argument("--templates", type=Path, default=None,
                        help="folder of templates that override the packaged ones")
    sub.add_parser("check-config", help="validate the settings and templates; write nothing")
    sub.add_parser("engines", help="try every configured speech engine and say how it went")
    call = sub.add_parser("call", help="place one call and print each state until the outcome")
    call.add_argument("request", type=Path, help="JSON body of POST /voice/call/play")
    verify = sub.add_parser("verify", help="start a verification to a number, then ask for the "
                                           "code heard and check it (to test a trunk)")
    verify.add_argument("to", help="the number to call, e.g. +12125551212")
    verify.add_argument("--carrier", default=None, help="carrier id (default: verify.carrier)")
    verify.add_argument("--locale", default=None, help="BCP 47, e.g. fr-FR (default: from "
                                                       "the number's country code)")
    verify.add_argument("--brand", default=None, help='said as "Your <brand> code is"')
    for command in (call, verify):
        command.add_argument("--api", default=None,
                             help="API base URL (default: from settings)")
        command.add_argument("--key-file", type=Path, default=None,
                             help=f"file holding the API key (default: ${KEY_ENV})")
    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key; it is shown once")
    create.add_argument("--name", required=True, help="whose key this is")
    create.add_argument("--carrier", action="append", default=None,
                        help="limit the key to this carrier (repeatable)")
    create.add_argument("--country", action="append", default=None,
                        help="limit the key to destinations with this prefix, e.g. +44 "
                             "(repeatable)")
    create.add_argument("--out", type=Path, default=None,
                        help="write the key to this file (mode 0600) instead of printing it")
    keys_sub.add_parser("list", help="every key, without secrets")
    revoke = keys_sub.add_parser("revoke", help="stop a key working, at once")
    revoke.add_argument("key_id", help="the id shown by `keys list`")
    preview = sub.add_parser("preview", help="write the audio a request's playlist would play")
    preview.add_argument("request", type=Path, help="JSON body with a playlist")
    preview.add_argument("--out", type=Path, required=True, help="WAV file to write (8 kHz)")
    install = sub.add_parser("install-service", help="install this ari-app as a systemd "
                             "service (as root; --config: the config to install)")
    install.add_argument("--root", type=Path, default=None,
                         help="write every file under this folder; no useradd or systemctl")
    install.add_argument("--dry-run", action="store_true", help="say what it would do; do none")
    return parser


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from ari_app.destinations import prefix_digits
    from ari_app.keys import new_key
    from ari_app.store import open_store

    store = open_store(settings, tool=True)
    try:
        if args.keys_command == "create":
            countries = None
            if args.country is not None:
                digits = [prefix_digits(c) for c in args.country]
                countries = tuple(d for d in digits if d is not None)
                if len(countries) < len(digits):
                    print("ari-app: --country takes number prefixes like +44", file=sys.stderr)
                    return 2
            key, key_hash, token = new_key(
                args.name, carriers=None if args.carrier is None else tuple(args.carrier),
                countries=countries)
            await store.keys.add(key, key_hash)
            if args.out is not None:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.touch(mode=0o600)
                args.out.chmod(0o600)
                args.out.write_text(token + "\n", encoding="utf-8")
                print(f"key {key.id} ({key.name}) written to {args.out}")
            else:
                print(f"key {key.id} ({key.name}); keep it now, it is not shown again:")
                print(token)
        elif args.keys_command == "list":
            for key in await store.keys.all():
                state = "revoked" if key.revoked_at else "active"
                print(f"{key.id}  {state:8} {key.name}  carriers: "
                      f"{','.join(key.carriers) if key.carriers is not None else 'any'}  "
                      f"destinations: "
                      f"{','.join('+' + c for c in key.countries) if key.countries else 'any'}")
        elif args.keys_command == "revoke":
            if not await store.keys.revoke(args.key_id):
                print(f"ari-app: no active key {args.key_id}", file=sys.stderr)
                return 1
            print(f"key {args.key_id} revoked")
    finally:
        await store.close()
    return 0


def _same_layout_as_carrier_changes(settings: Settings, layout: str, out: Path) -> None:
    """Carrier changes through the API rewrite asterisk.config_dir in asterisk.layout:
    files of another layout there would be replaced by them (FreePBX's pjsip.conf...)."""
    config_dirs = {n.config_dir.resolve() for n in settings.asterisk_nodes if n.config_dir}
    if layout != settings.asterisk.layout and out.resolve() in config_dirs:
        raise ConfigError([f"asterisk.layout: is {settings.asterisk.layout}, and carrier "
                           f"changes write that layout into {out}: set it to {layout} "
                           "before rendering this layout there"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "install-service":
            install_service(root=args.root, source=args.config, dry_run=args.dry_run)
            return 0
        settings = config.load(args.config)
        if args.command == "render":
            layout = args.layout or settings.asterisk.layout
            _same_layout_as_carrier_changes(settings, layout, args.out)
            rendered = render_all(settings, source=str(args.config or "settings"),
                                  layout=layout,
                                  overrides=args.templates or settings.asterisk.templates)
            for path in write_all(rendered, args.out, layout=layout):
                print(f"wrote {path}")
        elif args.command == "check-config":
            render_all(settings, source="check", layout=settings.asterisk.layout)
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
        elif args.command in ("call", "verify"):
            from ari_app.api_client import place_call, verify_number

            api = args.api or f"http://{settings.listen}"
            key = (args.key_file.read_text(encoding="utf-8").strip() if args.key_file
                   else os.environ.get(KEY_ENV, ""))
            if not key:
                print(f"ari-app: an API key is needed: --key-file FILE or ${KEY_ENV}",
                      file=sys.stderr)
                return 2
            if args.command == "verify":
                fields = {"carrier_id": args.carrier, "locale": args.locale,
                          "brand": args.brand}
                body = {"to": args.to, **{k: v for k, v in fields.items() if v is not None}}
                return asyncio.run(verify_number(api, body, key=key))
            body = json.loads(args.request.read_text(encoding="utf-8"))
            return asyncio.run(place_call(api, body, key=key))
        elif args.command == "keys":
            return asyncio.run(_keys(settings, args))
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
