"""The composition root: builds every object from the settings and runs them."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ari_app import audio, logs
from ari_app.admission import Admission
from ari_app.ami import Ami, AmiClient, AmiNodes
from ari_app.api.admin import AdminHandlers
from ari_app.api.app import application
from ari_app.api.auth import Authenticator
from ari_app.api.calls import CallHandlers
from ari_app.api.carriers import CarrierHandlers
from ari_app.api.verify import VerifyHandlers
from ari_app.ari import Ari, ConnectHandler, EventHandler
from ari_app.ari.client import AriClient
from ari_app.ari.events import EVENT_TYPES
from ari_app.ari.nodes import AriNodes
from ari_app.call.router import Router
from ari_app.callbacks import Notifier
from ari_app.calls import CallService
from ari_app.carrier_admin import CarrierAdmin
from ari_app.cluster.listener import Listener
from ari_app.cluster.membership import Membership
from ari_app.fetch import Fetcher
from ari_app.health import Health
from ari_app.idempotency import IdempotencyGuard
from ari_app.intake import Intake
from ari_app.media import MediaPreparer
from ari_app.metrics import Metrics
from ari_app.request import parse_playlist
from ari_app.settings import Current, NodeSettings, Settings
from ari_app.speech import Engine, Speaker, build_engines
from ari_app.store import Store, open_store
from ari_app.supervisor import Supervisor
from ari_app.verify.service import VerifyService

log = logging.getLogger(__name__)


@dataclass
class Service:
    current: Current
    store: Store
    ari: Ari
    fetcher: Fetcher
    media: MediaPreparer
    calls: CallService
    notifier: Notifier
    admission: Admission
    verify: VerifyService
    http: web.Application
    membership: Membership | None = None
    """This instance among others on a shared database (cluster/membership.py)."""


AriFactory = Callable[[Settings, NodeSettings, EventHandler, ConnectHandler], Ari]
"""Makes the ARI connection to a node, given where its events and (re)connects go."""


def connect_ari(settings: Settings, node: NodeSettings, on_event: EventHandler,
                on_connect: ConnectHandler) -> Ari:
    return AriClient(
        url=node.ari.url, username=node.ari.username,
        password=node.ari.password.reveal(), app=settings.stasis_app,
        on_event=on_event, on_connect=on_connect, events=EVENT_TYPES,
    )


def connect_nodes(settings: Settings, make_ari: AriFactory, on_event: EventHandler,
                  on_connect: ConnectHandler, on_lost: Callable[[list[str]], None]) -> Ari:
    """The one node's connection, or every node's behind one (ari/nodes.py)."""
    nodes = settings.asterisk_nodes
    if len(nodes) == 1:
        return make_ari(settings, nodes[0], on_event, on_connect)
    several = AriNodes(on_lost=on_lost)
    for node in nodes:
        several.add(node.name, lambda handler, node=node: make_ari(  # type: ignore[misc]
            settings, node, handler, on_connect), on_event)
    return several


def connect_ami(settings: Settings) -> Ami:
    nodes = settings.asterisk_nodes
    if len(nodes) == 1:
        return AmiClient(nodes[0].ami)
    return AmiNodes({node.name: AmiClient(node.ami) for node in nodes})


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


def build_media(current: Current) -> tuple[MediaPreparer, Fetcher]:
    fetcher = Fetcher(current=current)
    media = MediaPreparer(current=current, speech=speaker(current.settings), fetcher=fetcher)
    return media, fetcher


async def preview(settings: Settings, body: object) -> bytes:
    """The WAV a call with this body's playlist would play; no Asterisk needed."""
    media, fetcher = build_media(Current(settings))
    try:
        return audio.wav(media.render(await media.prepare(parse_playlist(body, settings))))
    finally:
        await fetcher.close()


def build(settings: Settings, *, make_ari: AriFactory = connect_ari, ami: Ami | None = None,
          media: tuple[MediaPreparer, Fetcher] | None = None,
          clock: Callable[[], float] = time.time, connect_wait: float = 30.0) -> Service:
    """Every object of the service, wired. The keywords replace the parts that reach
    outside the process (for the service tests' fakes)."""
    current = Current(settings)
    metrics = Metrics()
    router = Router()
    store = open_store(settings)
    media_preparer, fetcher = media or build_media(current)
    calls: CallService | None = None

    async def on_connect() -> None:
        if calls is not None:
            await calls.reconcile()

    def on_lost(channel_ids: list[str]) -> None:
        if calls is not None:
            calls.channels_lost(channel_ids)

    ari = connect_nodes(settings, make_ari, router.route, on_connect, on_lost)
    if isinstance(ari, AriNodes):
        for name in ari.connected_nodes():
            metrics.node_connected.labels(node=name).set_function(
                lambda name=name: float(ari.connected_nodes()[name]))  # type: ignore[misc]
    notifier = Notifier(current=current, outbox=store.outbox, metrics=metrics)
    admission = Admission(current=current, calls=store.calls, breaker=store.breaker,
                          metrics=metrics, shared=settings.cluster is not None)
    shared = settings.cluster is not None
    calls = CallService(current=current, store=store.calls, ari=ari, media=media_preparer,
                        router=router, metrics=metrics, wake_callbacks=notifier.wake,
                        may_dial=lambda: admission.may_dial, clock=clock,
                        connect_wait=connect_wait, slots=store.slots if shared else None,
                        ask_owner=store.calls.ask_owner_to_cancel if shared else None)
    admission.on_change = calls.let_through  # a reset lets queued calls go
    ami = ami or connect_ami(settings)
    carrier_admin = CarrierAdmin(current=current, ami=ami)
    health = Health(current=current, ari=ari, database=store, engines=engines(settings), ami=ami,
                    live=carrier_admin.live_all)
    intake = Intake(current=current, admission=admission, calls=calls,
                    idempotency=IdempotencyGuard(store=store.idempotency))
    verify = VerifyService(current=current, store=store.verifications, sealer=store.sealer,
                           intake=intake, metrics=metrics, wake_callbacks=notifier.wake,
                           cancel_call=calls.cancel_anywhere, clock=clock)
    calls.on_ended = verify.call_ended
    http = application(
        auth=Authenticator(keys=store.keys, metrics=metrics),
        calls=CallHandlers(current=current, intake=intake, calls=calls, store=store.calls,
                           media=media_preparer),
        carriers=CarrierHandlers(current=current, admin=carrier_admin, calls=calls),
        admin=AdminHandlers(admission=admission, health=health, metrics=metrics),
        verify=VerifyHandlers(service=verify),
    )
    membership = None if settings.cluster is None else Membership(
        settings=settings.cluster, app=settings.stasis_app, instances=store.instances,
        store=store.calls, calls=calls, clock=clock)
    return Service(current=current, store=store, ari=ari, fetcher=fetcher, media=media_preparer,
                   calls=calls, notifier=notifier, admission=admission, verify=verify,
                   http=http, membership=membership)


async def drain(service: Service, seconds: int, hurry: asyncio.Event) -> None:
    """Let live calls end before stopping (a rolling restart cuts no code in half); the
    API answers 503 to new calls meanwhile, and a second signal stops at once."""
    log.info(f"stopping: no more dialling; waiting up to {seconds} s for live calls to end "
             "(send the signal again to stop now)")
    left = await service.calls.drain(seconds, hurry)
    if left:
        log.warning(f"stopping with {left} call(s) still live: they end failed "
                    "(service-restarted) at the next start")
    else:
        log.info("stopping: no call is live")


async def serve(settings: Settings) -> None:
    logs.configure()
    settings.media.dir.mkdir(parents=True, exist_ok=True)
    service = build(settings)
    service.media.clean_stale()
    runner = web.AppRunner(service.http, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.listen.host, settings.listen.port)
    stop = asyncio.Event()
    hurry = asyncio.Event()
    """A second signal: stop without waiting for live calls."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: hurry.set() if stop.is_set() else stop.set())
    membership = service.membership
    listener = None
    try:
        async with Supervisor() as tasks:
            if membership is not None:
                await membership.join()
            tasks.start("ari-events", service.ari.run())
            tasks.start("callbacks", service.notifier.run())
            await service.admission.load()
            await service.calls.resume()
            await service.verify.load()
            tasks.start("verifications", service.verify.run())
            if membership is not None and service.store.url is not None:
                tasks.start("membership", membership.run())
                listener = Listener(service.store.url, service.calls.channels_freed,
                                    service.calls.cancel, service.calls.listening)
                listener.start()
            await site.start()
            log.info(f"API listening on http://{settings.listen}")
            await stop.wait()
            if membership is not None:
                await membership.leave()  # the others place what is still queued here
            await drain(service, settings.calls.drain_seconds, hurry)
    finally:
        if listener is not None:
            await listener.close()
        await runner.cleanup()
        await service.calls.shutdown()
        await service.verify.shutdown()
        await service.notifier.close()
        await service.ari.close()
        await service.fetcher.close()
        await service.store.close()
