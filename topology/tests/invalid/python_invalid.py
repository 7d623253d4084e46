from wotemu.enums import NetworkConditions
from wotemu.topology.models import (BuiltinApps, Network, Node, NodeApp,
                                    NodeResources, Topology)


def topology():
    wifi = Network(name="wifi", conditions=NetworkConditions.WIFI)

    worker = Node(
        name="worker",
        app=NodeApp(path=BuiltinApps.WORKER, mqtt=True),
        networks=[wifi])

    reader = Node(
        name="reader",
        app=NodeApp(path=BuiltinApps.READER),
        networks=[wifi],
        resources=NodeResources(mem_limit="150Q"))

    other_wifi = Network(name="wifi", conditions=NetworkConditions.LTE)
    clock = Node(name="clock", app=NodeApp(path=BuiltinApps.CLOCK), networks=[other_wifi])

    return Topology(nodes=[worker, reader, clock])
