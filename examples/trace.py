"""trace.yml as a WoTemu 0.6-style file: `Network` takes `trace=` (a file, or a dict with how to replay it)."""

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, Topology

_THING = "urn:wotemu:quickstart:thing"


def topology():
    cell = Network(name="cell", conditions=NetworkConditions.LTE, trace="traces/cellular.csv")
    commute = Network(
        name="commute",
        conditions=NetworkConditions.LTE,
        trace={"file": "traces/commute.mahi", "bin": "1s", "loop": True})

    server = Node(
        name="server",
        app=NodeApp(path="apps/quickstart_server.py", http=True),
        networks=[cell, commute])
    reader = Node(
        name="reader",
        app=NodeApp(path=BuiltinApps.READER,
                    params={"servient_host": "server.cell", "thing_id": _THING}),
        networks=[cell],
        scale=2)
    commuter = Node(
        name="commuter",
        app=NodeApp(path=BuiltinApps.READER,
                    params={"servient_host": "server.commute", "thing_id": _THING}),
        networks=[commute])

    return Topology(nodes=[server, reader, commuter])
