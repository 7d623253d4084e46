"""`wotemu.config` of WoTemu 0.6: the environment contract of a node, as its apps read it.

`conf`, the second argument of `async def app(wot, conf, loop, **params)`, is an `EnvConfig`. Its first eleven
fields are 0.6's, with 0.6's meaning; wotemu adds the node's identity after them (`hostname`, `task`, `stack`,
`node`). The Redis URL never carries the stack's password (apps record through `write_metric`).
"""

import collections
import enum
import logging
import os
import pprint

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST_REDIS = "redis"
DEFAULT_HOST_DOCKER_PROXY = "docker_api_proxy"

_logger = logging.getLogger(__name__)

EnvConfig = collections.namedtuple(
    "EnvConfig",
    [
        "port_catalogue",
        "port_http",
        "port_coap",
        "port_ws",
        "port_mqtt",
        "mqtt_broker_host",
        "mqtt_url",
        "redis_url",
        "docker_proxy_url",
        "other_ports_tcp",
        "other_ports_udp",
        # wotemu's additions
        "hostname",
        "task",
        "stack",
        "node",
    ],
    defaults=(None, None, None, None),
)


class ConfigVars(enum.Enum):
    """The environment variables of a node (0.6's names)."""

    PORT_CATALOGUE = "PORT_CATALOGUE"
    PORT_HTTP = "PORT_HTTP"
    PORT_WS = "PORT_WS"
    PORT_COAP = "PORT_COAP"
    PORT_MQTT = "PORT_MQTT"
    MQTT_BROKER_HOST = "MQTT_BROKER_HOST"
    REDIS_URL = "REDIS_URL"
    DOCKER_PROXY_URL = "DOCKER_PROXY_URL"
    OTHER_PORTS_TCP = "OTHER_PORTS_TCP"
    OTHER_PORTS_UDP = "OTHER_PORTS_UDP"


DEFAULT_CONFIG_VARS = {
    ConfigVars.PORT_CATALOGUE: 9090,
    ConfigVars.PORT_HTTP: 80,
    ConfigVars.PORT_WS: 81,
    ConfigVars.PORT_COAP: 5683,
    ConfigVars.PORT_MQTT: 1883,
    ConfigVars.MQTT_BROKER_HOST: None,
    ConfigVars.REDIS_URL: "redis://{}".format(DEFAULT_HOST_REDIS),
    ConfigVars.DOCKER_PROXY_URL: "tcp://{}:2375/".format(DEFAULT_HOST_DOCKER_PROXY),
    ConfigVars.OTHER_PORTS_TCP: None,
    ConfigVars.OTHER_PORTS_UDP: None,
}


def _env(var):
    return os.getenv(var.value, DEFAULT_CONFIG_VARS.get(var))


def _env_int(var):
    value = _env(var)
    try:
        return int(value)
    except (TypeError, ValueError):
        default = DEFAULT_CONFIG_VARS.get(var)
        _logger.warning("%s=%r is not a number: using %s", var.value, value, default)
        return default


def _ports(value):
    if not value:
        return None
    try:
        return [int(p) for p in str(value).split(",") if p.strip()]
    except ValueError:
        _logger.warning("cannot read the port list %r", value)
        return None


def get_env_config():
    """The node's configuration from its environment, as 0.6 read it."""
    port_mqtt = _env_int(ConfigVars.PORT_MQTT)
    broker = _env(ConfigVars.MQTT_BROKER_HOST)
    return EnvConfig(
        port_catalogue=_env_int(ConfigVars.PORT_CATALOGUE),
        port_http=_env_int(ConfigVars.PORT_HTTP),
        port_coap=_env_int(ConfigVars.PORT_COAP),
        port_ws=_env_int(ConfigVars.PORT_WS),
        port_mqtt=port_mqtt,
        mqtt_broker_host=broker,
        mqtt_url="mqtt://{}:{}".format(broker, port_mqtt) if broker and port_mqtt else None,
        redis_url=_env(ConfigVars.REDIS_URL),
        docker_proxy_url=_env(ConfigVars.DOCKER_PROXY_URL),
        other_ports_tcp=_ports(_env(ConfigVars.OTHER_PORTS_TCP)),
        other_ports_udp=_ports(_env(ConfigVars.OTHER_PORTS_UDP)),
        hostname=os.getenv("WOTEMU_SERVIENT_HOST") or os.getenv("HOSTNAME"),
        task=os.getenv("WOTEMU_TASK"),
        stack=os.getenv("WOTEMU_STACK"),
        node=os.getenv("WOTEMU_NODE"),
    )


def log_config():
    conf_env = {key.value: os.getenv(key.value) for key in ConfigVars}
    _logger.debug("Configuration environment:\n%s", pprint.pformat(conf_env))
    _logger.debug("Current configuration: %s", get_env_config())
