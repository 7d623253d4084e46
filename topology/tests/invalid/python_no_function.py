from wotemu.topology.models import Topology

TOPOLOGY = Topology(nodes=[])
