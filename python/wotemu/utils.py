"""`wotemu.utils` of WoTemu 0.6: what its apps use to find each other.

- `consume_from_catalogue(wot, port_catalogue, servient_host, thing_id)`: the ConsumedThing of `thing_id`,
  from the TD that `servient_host`'s catalogue serves.
- `wait_node(conf, name, wait=2, timeout=300, find_replicas=True)`: waits until the catalogue of `name` (every
  replica of it, with `find_replicas`) answers over HTTP; raises `NodeHTTPTimeout` after `timeout` seconds.
- `import_func(module_path, func_name)`: a function of a Python file.
"""

import asyncio
import importlib
import json
import logging
import os
import socket
import sys
import time

import tornado.httpclient

_logger = logging.getLogger(__name__)


class NodeHTTPTimeout(Exception):
    pass


async def _ping_http(url):
    client = tornado.httpclient.AsyncHTTPClient()
    try:
        await client.fetch(url, request_timeout=10)
        return True
    except Exception as exc:
        _logger.debug("HTTP ping of %s failed: %s", url, exc)
        return False


async def _ping_http_timeout(url, wait, timeout):
    start = time.time()
    while True:
        if await _ping_http(url):
            return
        if timeout is not None and time.time() - start >= timeout:
            raise NodeHTTPTimeout("HTTP timeout ({} s): {}".format(timeout, url))
        await asyncio.sleep(wait)


def _replica_hosts(name):
    """Every address `name` resolves to (one per replica with Swarm's DNS round robin), else the name."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return [name]
    hosts = sorted({info[4][0] for info in infos})
    return hosts or [name]


async def wait_node(conf, name, wait=2, timeout=300, find_replicas=True):
    """Waits until the WoT catalogue of node `name` (each of its replicas) answers."""
    hosts = [name]
    if find_replicas:
        loop = asyncio.get_running_loop()
        hosts = await loop.run_in_executor(None, _replica_hosts, name)
    urls = ["http://{}:{}".format(host, conf.port_catalogue) for host in hosts]
    _logger.debug("Waiting for the catalogues %s", urls)
    await asyncio.gather(*[_ping_http_timeout(url, wait, timeout) for url in urls])


async def consume_from_catalogue(wot, port_catalogue, servient_host, thing_id):
    """The ConsumedThing of `thing_id`, from the catalogue of `servient_host`.

    WoTPy 0.18's catalogue is keyed by title: the thing is found by its `id` (0.6's meaning) or its title, in
    the expanded catalogue (TDs with their base URL).
    """
    client = tornado.httpclient.AsyncHTTPClient()
    url = "http://{}:{}/?expanded=true".format(servient_host, port_catalogue)
    res = await client.fetch(url)
    catalogue = json.loads(res.body)
    for title, td in catalogue.items():
        if td.get("id") == thing_id or title == thing_id:
            return wot.consume(json.dumps(td))
    raise Exception("Thing '{}' not in catalogue: {}".format(thing_id, url))


def import_func(module_path, func_name):
    """`func_name` of the Python file `module_path`."""
    root, base = os.path.split(module_path)
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(os.path.splitext(base)[0])
    if not hasattr(module, func_name):
        raise Exception("Module {} does not contain function '{}'".format(module, func_name))
    return getattr(module, func_name)
