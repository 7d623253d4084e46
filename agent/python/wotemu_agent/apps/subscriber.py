"""subscriber: subscribes to every event of `thing_id` at `servient_host`."""

import logging

from wotemu_agent.apps._common import consume

_logger = logging.getLogger("wotemu.apps.subscriber")


async def app(wot, conf, loop, servient_host, thing_id=None, port_catalogue=None):
    port = int(port_catalogue or conf.port_catalogue)
    thing = await consume(wot, servient_host, thing_id, port)
    subs = []
    for name in list(thing.td.events):
        subs.append(thing.on_event(name).subscribe(on_next=lambda item: None))
        _logger.info("Subscribed to %s", name)
    app.subscriptions = subs
