"""reader: reads every property of `thing_id` at `servient_host` every `read_sleep` seconds (`interval`,
WoTemu 0.6's name for it, wins when given).

With `pace` "period" (the default) a round of reads starts every `read_sleep` seconds; with "after", as
WoTemu 0.6's reader, it waits `read_sleep` seconds after each round (see `_common.pause`)."""

import asyncio
import logging

from wotemu_agent.apps._common import check_pace, consume, pause
from wotemu_agent.apps._common import check_params  # noqa: F401  (the dry run's check of `pace`)

_logger = logging.getLogger("wotemu.apps.reader")


async def read_rounds(thing, names, read_sleep, pace):
    """Reads every property of `names`, in turn, round after round, paced by `pace`; a failed read is
    logged (the agent records it) and the rounds go on."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        for name in names:
            try:
                await thing.read_property(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # recorded by the agent; keep reading
                _logger.warning("read %s failed: %s", name, exc)
        await asyncio.sleep(pause(pace, started, loop.time(), read_sleep))


async def app(wot, conf, loop, servient_host, thing_id=None, read_sleep=2.0, port_catalogue=None, pace="period",
              interval=None):
    check_pace(pace)
    read_sleep = float(interval if interval is not None else read_sleep)
    port = int(port_catalogue or conf.port_catalogue)
    thing = await consume(wot, servient_host, thing_id, port)
    names = list(thing.properties.keys()) if hasattr(thing.properties, "keys") else list(thing.td.properties)
    _logger.info("Reading %s from %s every %s s (pace %s)", names, servient_host, read_sleep, pace)
    loop.create_task(read_rounds(thing, names, read_sleep, pace))
