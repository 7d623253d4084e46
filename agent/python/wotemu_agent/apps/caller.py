"""caller: invokes the `work` action of the worker `thing_id` at `servient_host` every `call_sleep` seconds."""

import asyncio
import logging

from wotemu_agent.apps._common import consume
from wotemu_agent.apps.worker import THING_ID

_logger = logging.getLogger("wotemu.apps.caller")


async def app(wot, conf, loop, servient_host, thing_id=THING_ID, call_sleep=2.0, iterations=None,
              port_catalogue=None):
    port = int(port_catalogue or conf.port_catalogue)
    thing = await consume(wot, servient_host, thing_id, port)
    arg = {"iterations": int(iterations)} if iterations else {}

    async def call_loop():
        while True:
            try:
                await thing.invoke_action("work", arg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _logger.warning("call failed: %s", exc)
            await asyncio.sleep(float(call_sleep))

    loop.create_task(call_loop())
