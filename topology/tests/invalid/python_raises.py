from wotemu.enums import NetworkConditions
from wotemu.topology.models import Network, Node, NodeApp, Topology


def topology():
    net = Network(name="3g", conditions=NetworkConditions.REGULAR_3G)
    nodes = [Node(name="n{}".format(i), app=NodeApp(path="reader"), networks=[net]) for i in range(3)]
    return Topology(nodes=nodes[5])
