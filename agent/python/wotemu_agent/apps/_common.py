"""Helpers of the builtin apps: find a thing in a remote servient's catalogue, waiting for it to come up."""

import asyncio
import json
import logging
import urllib.request

_logger = logging.getLogger("wotemu.apps")


def _fetch_json(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


async def find_td(servient_host, thing_id, port, timeout=None, retry_every=1.0):
    """The TD (a dict) of `thing_id` in the catalogue of `servient_host:port`; retries until it is served,
    soon at first (after 0.1 s, then twice as long each time up to `retry_every`): a run's servers start at
    the same time as their clients, and are usually up within a second.

    Without `thing_id`, the first thing of the catalogue."""
    url = "http://{}:{}/?expanded=true".format(servient_host, port)
    loop = asyncio.get_running_loop()
    waited = 0.0
    delay = min(0.1, retry_every)
    while True:
        try:
            catalogue = await loop.run_in_executor(None, _fetch_json, url, 10)
            for title, td in catalogue.items():
                if thing_id is None or td.get("id") == thing_id or title == thing_id:
                    return td
            _logger.info("%s not yet in the catalogue of %s", thing_id, servient_host)
        except Exception as exc:
            _logger.info("catalogue %s not reachable yet: %s", url, exc)
        if timeout is not None and waited >= timeout:
            raise TimeoutError("{} not found in {} after {:.0f} s".format(thing_id, url, waited))
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, retry_every)


async def consume(wot, servient_host, thing_id, port):
    td = await find_td(servient_host, thing_id, port)
    return wot.consume(json.dumps(td))


PACES = ("period", "after")


def check_pace(pace):
    """`pace` as given to an app, checked: "period" or "after" (see `pause`)."""
    if pace not in PACES:
        raise ValueError("pace {!r}: expected \"period\" (a round every period, from one start to the next) or "
                         "\"after\" (WoTemu 0.6's: the period's wait after each round)".format(pace))
    return pace


def check_params(params):
    """`wotemu agent --dry-run`'s check of the values it can check before a run, for the apps with a pace."""
    check_pace(params.get("pace", "period"))


def pause(pace, started, ended, period):
    """How long to wait before the next round of a periodic app, whose last round ran from `started` to
    `ended` (loop time, seconds).

    "period": rounds start `period` seconds apart whatever their interactions' latency (an open loop: a slow
    network does not lower the rate asked of it, and a slow answer is not hidden by fewer questions); a round
    that outlasts its period is followed at once, never by a burst of the rounds it missed.
    "after": the wait is the whole period after each round, as WoTemu 0.6's apps did, so the rate falls as
    the latency grows."""
    if pace == "after":
        return period
    return max(0.0, started + period - ended)


def action_input(value):
    """An action's input: WoTPy 0.18 hands the handler the value itself; older WoTPy (0.6's)
    `{"input": value}`."""
    if isinstance(value, dict) and set(value) == {"input"}:
        return value["input"]
    return value
