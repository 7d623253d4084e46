"""`wotemu.topology.models` of WoTemu 0.6: the classes topology files build.

The constructors take 0.6's arguments. They only record what they are given, with the line of the topology
file that built each object; every check is done by wotemu (Rust), which reports all problems at once with
those lines. Beyond 0.6, `Network` also takes the new condition fields (`loss`, `duplicate`, `corrupt`,
`reorder`, `rate_up`, `latency_up`, `jitter_up`, `loss_up`, `distribution`, `correlation`, `schedule`,
`trace`).
"""

import enum
import json
import os
import re
import shlex
import sys

from wotemu.config import DEFAULT_HOST_DOCKER_PROXY, DEFAULT_HOST_REDIS, ConfigVars  # noqa: F401
from wotemu.enums import NETEM_CONDITIONS, BuiltinApps, NetworkConditions, NodePlatforms  # noqa: F401

# Set by wotemu before the topology file runs: the file whose lines are recorded.
_TOPOLOGY_FILE = None

_NEW_CONDITION_FIELDS = (
    "latency", "jitter", "rate", "rate_up", "loss", "duplicate", "corrupt", "reorder", "schedule",
    "trace", "latency_up", "jitter_up", "loss_up", "distribution", "correlation",
)


def _origin():
    """The line of the topology file that is building the object (or the outermost caller's)."""
    frame = sys._getframe(2)
    fallback = None
    while frame is not None:
        if frame.f_code.co_filename == _TOPOLOGY_FILE:
            return frame.f_lineno
        if fallback is None and frame.f_code.co_filename != __file__:
            fallback = frame.f_lineno
        frame = frame.f_back
    return fallback


def _value(v):
    """Enums become their value; other objects are kept for JSON."""
    if isinstance(v, enum.Enum):
        return v.value
    return v


def _underscore(word):
    """0.6's name normalisation (`inflection.underscore`): CamelCase → camel_case, - → _, lower case."""
    word = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", word)
    word = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", word)
    return word.replace("-", "_").lower()


def _placement(p):
    """A `placement=` argument as the topology's `placement`: a dict in wotemu's YAML form (`{"host": "worker-1"}`,
    `{"constraints": [...], "preferences": [{"spread": ...}]}`), or the Docker SDK's
    `docker.types.Placement(constraints=..., preferences=...)`."""
    if p is None:
        return None
    p = dict(p)
    out = {}
    for k, v in p.items():
        if k == "Constraints":
            out["constraints"] = list(v)
        elif k == "Preferences":
            out["preferences"] = [
                {"spread": x["Spread"]["SpreadDescriptor"]} if isinstance(x, dict) and "Spread" in x else x
                for x in v
            ]
        else:
            out[k] = v
    return out


class _Named:
    """An object with a name that 0.6 normalises (`name` is the normalised name, as 0.6 gives it); the name
    as written is kept for wotemu's messages (`Factory-LAN` (normalised to `factory_lan`) …)."""

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._given_name = value
        self._name = _underscore(value) if isinstance(value, str) else value

    def _key(self):
        return self._given_name if isinstance(self._given_name, str) else str(self._name)

    def __repr__(self):
        return "{}({!r})".format(type(self).__name__, self._name)


def _name(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, _Named):
        return v._key()
    return getattr(v, "name", str(v))


class TopologyPorts:
    def __init__(self, catalogue=None, http=None, ws=None, coap=None, mqtt=None, **kwargs):
        self.catalogue = catalogue if catalogue is not None else kwargs.pop("port_catalogue", None)
        self.http = http if http is not None else kwargs.pop("port_http", None)
        self.ws = ws if ws is not None else kwargs.pop("port_ws", None)
        self.coap = coap if coap is not None else kwargs.pop("port_coap", None)
        self.mqtt = mqtt if mqtt is not None else kwargs.pop("port_mqtt", None)
        if kwargs:
            raise TypeError("TopologyPorts() got unexpected arguments: {}".format(", ".join(sorted(kwargs))))

    def _raw(self):
        return {k: int(v) for k, v in vars(self).items() if v is not None}


class NodeResources:
    def __init__(self, cpu_limit=None, mem_limit=None, cpu_reservation=None, mem_reservation=None,
                 target_cpu_speed=None):
        self.cpu_limit = cpu_limit
        self.mem_limit = mem_limit
        self.cpu_reservation = cpu_reservation
        self.mem_reservation = mem_reservation
        self.target_cpu_speed = target_cpu_speed
        self._line = _origin()

    def _raw(self):
        return {k: str(v) for k, v in vars(self).items() if not k.startswith("_") and v is not None}


class NodeApp:
    def __init__(self, path, http=False, ws=False, mqtt=False, coap=False, params=None):
        self.path = _value(path)
        self.http = bool(http)
        self.ws = bool(ws)
        self.mqtt = bool(mqtt)
        self.coap = bool(coap)
        self.params = dict(params or {})
        self._line = _origin()

    def _raw(self):
        out = {"path": str(self.path)}
        for k in ("http", "ws", "mqtt", "coap"):
            if getattr(self, k):
                out[k] = True
        if self.params:
            # 0.6 passes each parameter as str(value) on the command line.
            out["params"] = {str(k): str(_value(v)) for k, v in self.params.items()}
        return out


def _netem_from_args(args):
    """0.6's gateway arguments as wotemu's condition fields.

    Each item is a JSON object string (0.6.0's `NETEM_CONDITIONS`: `{"latency": ms, "jitter": ms, "rate":
    "50kbit"}`) or a Pumba-style command (`"delay --time 15 --jitter 10 --distribution normal"`, `"rate --rate
    50mbit"`, `"loss --percent 1"`, `"duplicate --percent 1"`, `"corrupt --percent 1"`).
    """
    out = {}
    for item in args:
        item = str(item).strip()
        if item.startswith("{"):
            try:
                obj = json.loads(item)
            except ValueError as exc:
                raise ValueError("netem argument {!r} is not valid JSON: {}".format(item, exc)) from None
            for k, v in obj.items():
                if v is not None:
                    out[str(k)] = v
            continue
        words = shlex.split(item)
        if not words:
            continue
        cmd, opts = words[0], {}
        rest = words[1:]
        i = 0
        while i < len(rest):
            if not rest[i].startswith("--") or i + 1 >= len(rest):
                raise ValueError("netem argument {!r}: expected `--option value` pairs after `{}`".format(item, cmd))
            opts[rest[i][2:]] = rest[i + 1]
            i += 2
        allowed = {
            "delay": {"time", "jitter", "distribution", "correlation"},
            "rate": {"rate"},
            "loss": {"percent"},
            "duplicate": {"percent"},
            "corrupt": {"percent"},
        }
        if cmd not in allowed:
            raise ValueError("netem argument {!r}: unknown command `{}` (known: {})".format(
                item, cmd, ", ".join(sorted(allowed))))
        unknown = set(opts) - allowed[cmd]
        if unknown:
            raise ValueError("netem argument {!r}: unknown option(s) {} for `{}`".format(
                item, ", ".join("--" + u for u in sorted(unknown)), cmd))
        if cmd == "delay":
            if opts.get("distribution", "normal") != "normal":
                raise ValueError("netem argument {!r}: wotemu's jitter is normally distributed; "
                                 "use --distribution normal".format(item))
            if "correlation" in opts and float(opts["correlation"]) != 0:
                raise ValueError("netem argument {!r}: delay correlation is not supported".format(item))
            if "time" in opts:
                out["latency"] = float(opts["time"])
            if "jitter" in opts:
                out["jitter"] = float(opts["jitter"])
        elif cmd == "rate":
            if "rate" not in opts:
                raise ValueError("netem argument {!r}: `rate` needs --rate".format(item))
            out["rate"] = opts["rate"]
        else:
            if "percent" not in opts:
                raise ValueError("netem argument {!r}: `{}` needs --percent".format(item, cmd))
            out[cmd] = "{}%".format(opts["percent"])
    return out


class Network(_Named):
    def __init__(self, name, netem=None, conditions=None, args_compose_net=None, args_compose_gw=None,
                 placement_gw=None, **kwargs):
        unknown = [k for k in kwargs if k not in _NEW_CONDITION_FIELDS]
        if unknown:
            raise TypeError("Network() got unexpected arguments: {} (known: netem, conditions, "
                            "args_compose_net, args_compose_gw, placement_gw, {})".format(
                                ", ".join(sorted(unknown)), ", ".join(_NEW_CONDITION_FIELDS)))
        self.name = name
        self.netem = netem
        # 0.6.x's list of gateway arguments, read now so that a bad one is an error at this line.
        self._netem_fields = _netem_from_args(netem) if isinstance(netem, (list, tuple)) else None
        self.conditions = conditions
        self.args_compose_net = args_compose_net
        self.args_compose_gw = args_compose_gw
        self.placement_gw = _placement(placement_gw)
        self.extra = kwargs
        self._line = _origin()

    def to_compose_dict(self, topology):
        """This network in the topology's compose document (0.6's method)."""
        return topology.to_compose_dict()["networks"][self.name]

    def to_gateway_compose_dict(self, topology):
        """This network's gateway service in the topology's compose document (0.6's method)."""
        return topology.to_compose_dict()["services"]["gw_" + self.name]

    def _raw(self):
        out = {}
        if self.conditions is not None:
            out["conditions"] = _value(self.conditions)
        if self._netem_fields is not None:
            out.update(self._netem_fields)
        elif self.netem is not None:
            out["netem"] = dict(self.netem)
        for k, v in self.extra.items():
            if k == "schedule":
                out[k] = [{kk: _value(vv) for kk, vv in dict(step).items()} for step in v]
            elif k == "trace" and isinstance(v, dict):
                out[k] = {kk: _value(vv) for kk, vv in v.items()}
            else:
                out[k] = _value(v)
        if self.args_compose_net:
            out["compose_net"] = self.args_compose_net
        if self.args_compose_gw:
            out["compose_gw"] = self.args_compose_gw
        if self.placement_gw is not None:
            out["placement_gw"] = self.placement_gw
        return out


class Broker(_Named):
    def __init__(self, name, networks, args_compose=None, placement=None):
        self.name = name
        self.networks = list(networks)
        self.args_compose = args_compose
        self.placement = _placement(placement)
        self._line = _origin()

    def to_compose_dict(self, topology):
        """This broker's service in the topology's compose document (0.6's method)."""
        return topology.to_compose_dict()["services"][self.name]

    def _raw(self):
        out = {"networks": [_name(n) for n in self.networks]}
        if self.args_compose:
            out["compose"] = self.args_compose
        if self.placement is not None:
            out["placement"] = self.placement
        return out


class Service(_Named):
    def __init__(self, name, image, **docker_options):
        self.name = name
        self.image = image
        self.docker_options = docker_options
        self._line = _origin()

    def _raw(self):
        out = {"image": self.image}
        if self.docker_options:
            out["options"] = {k: _plain(v) for k, v in self.docker_options.items()}
        return out


def _plain(v):
    """Docker SDK option objects (dict subclasses such as RestartPolicy) as plain JSON values."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return _value(v)


class Node(_Named):
    def __init__(self, name, app, networks, broker=None, broker_network=None, image=None, resources=None,
                 scale=None, args_compose=None, services=None, placement=None):
        self.name = name
        self.app = app
        self.networks = list(networks)
        self.broker = broker
        self.broker_network = broker_network
        self.image = image
        self.resources = resources
        self.scale = scale
        self.args_compose = args_compose
        self.services = list(services or [])
        self.placement = _placement(placement)
        self._line = _origin()

    @property
    def broker_host(self):
        if self.broker is None:
            return None
        net = self.broker_network or (self.broker.networks[0] if self.broker.networks else None)
        return "{}.{}".format(_name(self.broker), _name(net))

    def link_service(self, service):
        assert service not in self.services, "service already linked"
        self.services.append(service)

    def to_compose_dict(self, topology):
        """This node's service in the topology's compose document (0.6's method)."""
        return topology.to_compose_dict()["services"][self.name]

    def _raw(self):
        out = {"app": self.app._raw(), "networks": [_name(n) for n in self.networks]}
        if self.broker is not None:
            out["broker"] = _name(self.broker)
        if self.broker_network is not None:
            out["broker_network"] = _name(self.broker_network)
        if self.image is not None:
            out["image"] = self.image
        if self.resources is not None:
            res = self.resources._raw()
            if res:
                out["resources"] = res
        if self.scale is not None:
            out["scale"] = int(self.scale)
        if self.args_compose:
            out["compose"] = self.args_compose
        if self.services:
            out["services"] = [_name(s) for s in self.services]
        if self.placement is not None:
            out["placement"] = self.placement
        return out


class TopologyRedis:
    """The stack's Redis: wotemu's own (`enabled`, the default; its service is named `host`), or an external one
    at `redis_url`."""

    def __init__(self, enabled=True, host=DEFAULT_HOST_REDIS, redis_url=None):
        if not enabled and not redis_url:
            raise ValueError("An explicit Redis URL has to be provided when the built-in Redis service is disabled")
        self.enabled = bool(enabled)
        self.host = host
        self.redis_url = redis_url

    @property
    def internal_url(self):
        return "redis://{}".format(self.host) if self.enabled else self.redis_url

    @property
    def config(self):
        return {ConfigVars.REDIS_URL.value: self.internal_url}


class TopologyDockerProxy:
    """The stack's read-only Docker API proxy: wotemu's own (`enabled`), or an external one at `host`:2375."""

    def __init__(self, enabled=True, host=DEFAULT_HOST_DOCKER_PROXY):
        if enabled and host != DEFAULT_HOST_DOCKER_PROXY:
            raise ValueError("wotemu's own Docker API proxy is always named `{}`; to use another proxy, give "
                             "TopologyDockerProxy(enabled=False, host=...)".format(DEFAULT_HOST_DOCKER_PROXY))
        self.enabled = bool(enabled)
        self.host = host

    @property
    def url(self):
        return "tcp://{}:2375/".format(self.host)

    @property
    def config(self):
        return {ConfigVars.DOCKER_PROXY_URL.value: self.url}


class Topology:
    def __init__(self, nodes, ports=None, redis=None, docker_proxy=None, brokers=None, scenario=None):
        self.nodes = list(nodes)
        # Beyond 0.6: timed events (`scenario=[{"at": "10s", "kill": "reader.1"}, …]`), as in YAML.
        self.scenario = list(scenario or [])
        self.ports = ports
        self.redis = redis
        self.docker_proxy = docker_proxy
        self._brokers = list(brokers or [])
        self._line = _origin()

    def to_compose_dict(self):
        """The topology's compose document as a dict, as `wotemu compose` writes it (0.6's method; needs the
        installed `wotemu` package). Raises `wotemu.TopologyError` when the topology is invalid."""
        return json.loads(_compose(self)[0])

    def to_compose_yaml(self):
        """The compose file text, as `wotemu compose` writes it (0.6's method)."""
        return _compose(self)[1]

    @property
    def networks(self):
        return _unique([n for node in self.nodes for n in node.networks] +
                       [n for b in self.brokers for n in b.networks])

    @property
    def brokers(self):
        return _unique(self._brokers + [node.broker for node in self.nodes if node.broker is not None])

    @property
    def services(self):
        return _unique([s for node in self.nodes for s in node.services])


def _plain(v):
    """A scenario event as plain JSON: dicts and lists kept, objects with a name (a Node, a Network) by
    their name, enums by value."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "name") and not isinstance(v, enum.Enum):
        return str(v.name)
    return _value(v)


def _unique(objs):
    out = []
    for o in objs:
        if not any(o is x for x in out):
            out.append(o)
    return out


def _to_raw(topology):
    """The topology as wotemu's raw model (a JSON-able dict), with the line of each object and name clashes."""
    if not isinstance(topology, Topology):
        raise TypeError("topology() must return a wotemu.topology.models.Topology, not {}".format(
            type(topology).__name__))
    raw = {"nodes": {}, "networks": {}, "brokers": {}, "services": {}}
    origins = {"": topology._line}
    problems = []

    def put(kind, obj):
        if isinstance(obj, str):
            return  # a reference by name; resolved (or reported) by wotemu
        name = _name(obj)
        value = obj._raw()
        path = "{}.{}".format(kind, name)
        if name in raw[kind]:
            if raw[kind][name] != value:
                problems.append({"path": path, "line": obj._line, "message":
                                 "two different {} are named `{}` (the other one is built at line {})".format(
                                     kind, name, origins.get(path))})
            return
        raw[kind][name] = value
        origins[path] = obj._line

    for node in topology.nodes:
        put("nodes", node)
    for net in topology.networks:
        put("networks", net)
    for broker in topology.brokers:
        put("brokers", broker)
    for srv in topology.services:
        put("services", srv)
    if isinstance(topology.redis, TopologyRedis) and not topology.redis.enabled:
        raw["redis"] = {"url": str(topology.redis.redis_url)}
    elif isinstance(topology.redis, TopologyRedis) and topology.redis.host != DEFAULT_HOST_REDIS:
        raw["redis"] = {"host": str(topology.redis.host)}
    if isinstance(topology.docker_proxy, TopologyDockerProxy) and not topology.docker_proxy.enabled:
        raw["docker_proxy"] = {"url": topology.docker_proxy.url}
    if topology.scenario:
        raw["scenario"] = [_plain(e) for e in topology.scenario]
    if isinstance(topology.ports, TopologyPorts):
        raw["ports"] = topology.ports._raw()
    elif isinstance(topology.ports, dict):
        raw["ports"] = {k: int(v) for k, v in topology.ports.items()}
    return {"raw": raw, "origins": origins, "problems": problems}


def _native():
    try:
        from wotemu import _native as native
    except ImportError as e:
        raise RuntimeError("composing or validating a topology from Python needs the installed `wotemu` package "
                           "(pip install a wheel built with `maturin build -m python/Cargo.toml`); the `wotemu` "
                           "command composes topology files: `wotemu compose --path FILE`") from e
    return native


def _caller_file():
    """The file of the code that called into this module (where the topology was built), for locations."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in (__file__, _package_init()):
        frame = frame.f_back
    return os.path.abspath(frame.f_code.co_filename) if frame is not None else None


def _package_init():
    pkg = sys.modules.get("wotemu")
    return getattr(pkg, "__file__", None)


def _shim_json(topology):
    return json.dumps(_to_raw(topology), default=str)


def _compose(topology, source=None, redis_port=6379, topology_dir=".", password_file="./redis-password",
             password_file_abs=None, seed=None):
    """(JSON text, YAML text) of the compose document; the options are `wotemu compose`'s (`seed`: the
    gateways' seed, drawn when None)."""
    native = _native()
    file = _caller_file()
    if source is None:
        source = os.path.basename(file) if file else "topology.py"
    return native.compose(_shim_json(topology), file, source, int(redis_port), str(topology_dir),
                          str(password_file), password_file_abs, None if seed is None else int(seed))


def _validate(topology):
    """(errors, warnings), each a list of the CLI's messages."""
    native = _native()
    return native.validate(_shim_json(topology), _caller_file())
