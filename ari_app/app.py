"""The composition root: builds every object from the settings and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from ari_app import audio, logs
from ari_app.admission import Admission
from ari_app.ami import AmiClient
from ari_app.api.http import Api
from ari_app.ari.client import AriClient
from ari_app.callbacks import Notifier
from ari_app.calls import CallService
from ari_app.carriers import CarrierManager
from ari_app.fetch import Fetcher
from ari_app.health import Health
from ari_app.media import MediaPreparer
from ari_app.metrics import Metrics
from ari_app.playlist import parse_playlist
from ari_app.settings import Current, Settings
from ari_app.speech import Engine, Speaker, build_engines
from ari_app.stasis import EVENTS, EventRouter
from ari_app.store import SqliteStore

log = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    store: SqliteStore
    ari: AriClient
    fetcher: Fetcher
    media: MediaPreparer
    calls: CallService
    notifier: Notifier
    admission: Admission
    api: Api


def engines(settings: Settings) -> list[Engine]:
    """Every engine the settings name, by default or for some language."""
    tts = settings.tts
    names = list(dict.fromkeys([*tts.engines, *(n for o in tts.by_language.values() for n in o)]))
    return build_engines(names, rate=tts.rate, timeout=tts.timeout, commands=tts.commands,
                         gtts_endpoint=tts.gtts_endpoint, asterisk_sounds=tts.asterisk_sounds)


def speaker(settings: Settings) -> Speaker:
    by_name = {e.name: e for e in engines(settings)}
    return Speaker([by_name[n] for n in settings.tts.engines],
                   {tag: [by_name[n] for n in order]
                    for tag, order in settings.tts.by_language.items()})


def build_media(settings: Settings) -> tuple[MediaPreparer, Fetcher]:
    fetcher = Fetcher(settings.media)
    media = MediaPreparer(settings=settings.media, speech=speaker(settings), fetcher=fetcher)
    return media, fetcher


async def preview(settings: Settings, body: object) -> bytes:
    """The WAV a call with this body's playlist would play; no Asterisk needed."""
    media, fetcher = build_media(settings)
    try:
        return audio.wav(media.render(await media.prepare(parse_playlist(body, settings))))
    finally:
        await fetcher.close()


def build(settings: Settings) -> Service:
    router = EventRouter()
    store = SqliteStore(settings.storage_path)
    media, fetcher = build_media(settings)
    calls: CallService | None = None

    async def on_connect() -> None:
        if calls is not None:
            await calls.reconcile()

    ari = AriClient(
        url=settings.ari.url, username=settings.ari.username,
        password=settings.ari.password.reveal(), app=settings.ari.app,
        on_event=router.dispatch, on_connect=on_connect, events=EVENTS,
    )
    current = Current(settings)
    metrics = Metrics()
    notifier = Notifier(settings=lambda: current.settings.callbacks, store=store,
                        metrics=metrics)
    admission = Admission(settings=lambda: current.settings, store=store, metrics=metrics)
    calls = CallService(config=current, store=store, ari=ari, media=media, router=router,
                        metrics=metrics, on_event=notifier.wake,
                        may_dial=lambda: admission.may_dial)
    admission.on_change = calls.dispatcher.pump  # a reset lets queued calls go
    ami = AmiClient(settings.ami)
    carriers = CarrierManager(current=current, ami=ami)
    health = Health(ari=ari, store=store, engines=engines(settings), ami=ami,
                    carriers=lambda: current.settings.carriers, live=carriers.live_all)
    api = Api(config=current, calls=calls, store=store, media=media, health=health,
              carriers=carriers, admission=admission)
    return Service(settings=settings, store=store, ari=ari, fetcher=fetcher, media=media,
                   calls=calls, notifier=notifier, admission=admission, api=api)


async def serve(settings: Settings) -> None:
    logs.configure()
    settings.media.dir.mkdir(parents=True, exist_ok=True)
    service = build(settings)
    service.media.clean_stale()
    runner = web.AppRunner(service.api.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.listen.host, settings.listen.port)
    ari_task = asyncio.create_task(service.ari.run(), name="ari-events")
    notifier_task = asyncio.create_task(service.notifier.run(), name="callbacks")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.admission.load()
        await service.calls.resume()
        await site.start()
        log.info(f"API listening on http://{settings.listen}")
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        await service.calls.shutdown()
        for task in (ari_task, notifier_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await service.notifier.close()
        await service.ari.close()
        await service.fetcher.close()
        await service.store.close()
