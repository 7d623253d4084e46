"""Every protocol on three networks with a broker (see mixed.yml), in WoTemu 0.6 form."""

import json

from wotemu.enums import NetworkConditions
from wotemu.topology.models import (Broker, BuiltinApps, Network, Node, NodeApp,
                                    NodeResources, Topology)

_CLOCK = "urn:org:fundacionctic:thing:clock"


def topology():
    field_wifi = Network(name="field_wifi", conditions=NetworkConditions.WIFI)
    cellular = Network(name="cellular", conditions=NetworkConditions.LTE)
    backhaul = Network(name="backhaul", conditions=NetworkConditions.CABLE)

    broker = Broker(name="broker", networks=[field_wifi, cellular])

    clock = Node(
        name="clock",
        app=NodeApp(path=BuiltinApps.CLOCK, http=True, ws=True, coap=True),
        networks=[field_wifi, backhaul])

    reader = Node(
        name="reader",
        app=NodeApp(path=BuiltinApps.READER, http=True,
                    params={"servient_host": "clock.field_wifi", "thing_id": _CLOCK}),
        networks=[field_wifi],
        scale=2)

    subscriber = Node(
        name="subscriber",
        app=NodeApp(path=BuiltinApps.SUBSCRIBER, ws=True,
                    params={"servient_host": "clock.backhaul", "thing_id": _CLOCK}),
        networks=[backhaul])

    historian = Node(
        name="historian",
        app=NodeApp(path=BuiltinApps.MONGO_HISTORIAN, http=True,
                    params={"observed_things": json.dumps(
                        [{"servient_host": "clock.backhaul", "thing_id": _CLOCK}])}),
        networks=[backhaul])

    worker = Node(
        name="worker",
        app=NodeApp(path=BuiltinApps.WORKER, mqtt=True),
        networks=[field_wifi],
        broker=broker,
        broker_network=field_wifi,
        resources=NodeResources(cpu_limit="0.5", mem_limit="256M",
                                cpu_reservation="0.1", mem_reservation="64M"))

    caller = Node(
        name="caller",
        app=NodeApp(path=BuiltinApps.CALLER, mqtt=True,
                    params={"servient_host": "worker.field_wifi",
                            "thing_id": "urn:org:fundacionctic:thing:worker"}),
        networks=[cellular, field_wifi],
        broker=broker,
        broker_network=cellular,
        scale=3)

    return Topology(nodes=[clock, reader, subscriber, historian, worker, caller])
