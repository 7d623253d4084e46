"""mobility.yml as a WoTemu 0.6-style file: a reader walking away from its access point and back, its
link following traces/walk.csv (made by traces/make_traces.py from a path and a distance -> conditions
table)."""

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, Topology

_CLOCK = "urn:org:fundacionctic:thing:clock"


def topology():
    radio = Network(
        name="radio",
        conditions=NetworkConditions.WIFI,
        trace={"file": "traces/walk.csv", "loop": True})

    clock = Node(
        name="clock",
        app=NodeApp(path=BuiltinApps.CLOCK, http=True),
        networks=[radio])
    walker = Node(
        name="walker",
        app=NodeApp(path=BuiltinApps.READER,
                    params={"servient_host": "clock.radio", "thing_id": _CLOCK}),
        networks=[radio])

    return Topology(nodes=[clock, walker])
