from wotemu.topology.models import Topology

def topology()
    return Topology(nodes=[])
