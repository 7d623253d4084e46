"""conditions.yml as a WoTemu 0.6-style file: `Network` takes the new condition fields as keywords."""

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, Topology

_CLOCK = "urn:org:fundacionctic:thing:clock"


def topology():
    rural = Network(
        name="rural",
        conditions=NetworkConditions.LTE,
        loss="1%",
        duplicate="0.2%",
        corrupt="0.1%",
        reorder="5%",
        rate_up="2mbit",
        schedule=[
            {"at": "60s", "for": "30s", "conditions": NetworkConditions.GPRS},
            {"at": "120s", "loss": "10%"},
        ])
    lab = Network(name="lab", latency="2ms", jitter="0.5ms", rate="100mbit")

    clock = Node(
        name="clock",
        app=NodeApp(path=BuiltinApps.CLOCK, http=True),
        networks=[rural, lab])
    reader = Node(
        name="reader",
        app=NodeApp(path=BuiltinApps.READER,
                    params={"servient_host": "clock.rural", "thing_id": _CLOCK}),
        networks=[rural],
        scale=3)
    lab_reader = Node(
        name="lab_reader",
        app=NodeApp(path=BuiltinApps.READER,
                    params={"servient_host": "clock.lab", "thing_id": _CLOCK}),
        networks=[lab])

    return Topology(nodes=[clock, reader, lab_reader])
