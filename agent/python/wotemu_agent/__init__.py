"""The Python side of the wotemu agent.

The Rust agent embeds Python, puts this package on ``sys.path`` and calls :func:`run`. It builds a WoTPy
servient with the node's bindings, wraps consumed and exposed things so that every interaction and every
subscription event is handed to the agent's recorder (a Rust object: a call costs a lock and a push), and runs
the app ``async def app(wot, conf, loop, **params)`` exactly as WoTemu 0.6 did.
"""

import asyncio
import faulthandler
import importlib
import importlib.util
import io
import json
import logging
import os
import sys
import time
import traceback
import types
import urllib.request

_recorder = None


class AppError(Exception):
    """The app cannot be loaded or called (missing file, no `app` function, bad params)."""


def recorder():
    """The agent's recorder, for apps that record their own values (``recorder().app_value(key, json)``)."""
    return _recorder


# ---------------------------------------------------------------------------------------------------- output


class _LineWriter(io.TextIOBase):
    """A text stream that hands every complete line to the recorder and echoes it to the real stream."""

    def __init__(self, stream, real):
        self._stream = stream
        self._real = real
        self._buf = ""

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            s = str(s)
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            _recorder.log(self._stream, line)
        try:
            self._real.write(s)
        except Exception:
            pass
        return len(s)

    def flush(self):
        try:
            self._real.flush()
        except Exception:
            pass

    def close_buffer(self):
        if self._buf:
            _recorder.log(self._stream, self._buf)
            self._buf = ""


# ---------------------------------------------------------------------------------------------- interactions


def _now():
    return time.time()


def _cached(obj, attr, compute):
    """`compute()` once per object: WoTPy rebuilds a whole thing fragment for `thing.id`."""
    try:
        return obj.__dict__[attr]
    except (KeyError, AttributeError):
        pass
    value = compute()
    try:
        obj.__dict__[attr] = value
    except AttributeError:
        pass
    return value


def _thing_id(td):
    def compute():
        try:
            return td.id
        except Exception:
            return str(td)

    return _cached(td, "_wotemu_thing_id", compute)


def _err(exc):
    return type(exc).__name__, str(exc)[:4096]


def _host_of(td, name):
    """The host the interaction goes to (first form's host), as 0.6 recorded it."""
    hosts = _cached(td, "_wotemu_hosts", dict)
    if name not in hosts:
        host = None
        try:
            from urllib.parse import urlparse

            forms = td.get_forms(name)
            if forms:
                host = urlparse(forms[0].href).hostname
        except Exception:
            pass
        hosts[name] = host
    return hosts[name]


# Interactions under way: id → (thing, name, verb, side, start, host). Those still waiting when the run
# stops are recorded as failed ("PendingAtStop", with the time waited), so that a dead network shows up as
# failures, not as silence.
_in_flight = {}
_next_call = [0]


def record_pending():
    """Records every interaction still waiting for its answer, and forgets them (called once, at stop)."""
    now = time.perf_counter()
    for thing, name, verb, side, start, host in list(_in_flight.values()):
        waited = now - start
        _recorder.interaction(
            thing, name, verb, side, waited * 1e3, False, "PendingAtStop",
            "no answer after {:.1f} s when the run stopped".format(waited), host)
    n = len(_in_flight)
    _in_flight.clear()
    return n


def _wrap_async(cls, method, verb, side):
    orig = getattr(cls, method)

    async def wrapper(self, name, *args, **kwargs):
        if side == "consumed":
            thing = _thing_id(self.td)
            host = _host_of(self.td, name)
        else:
            thing = _thing_id(self.thing)
            host = None
        start = time.perf_counter()
        _next_call[0] += 1
        call = _next_call[0]
        _in_flight[call] = (thing, name, verb, side, start, host)
        try:
            result = await orig(self, name, *args, **kwargs)
        except BaseException as exc:
            if _in_flight.pop(call, None) is None:
                # Recorded as pending when the run stopped: nothing more to record.
                raise
            # A cancellation before the stop is the caller giving up (asyncio.wait_for's timeout): a failure.
            et, em = _err(exc)
            _recorder.interaction(thing, name, verb, side, (time.perf_counter() - start) * 1e3, False, et, em, host)
            raise
        if _in_flight.pop(call, None) is not None:
            _recorder.interaction(thing, name, verb, side, (time.perf_counter() - start) * 1e3, True, None, None, host)
        return result

    wrapper.__wrapped__ = orig
    wrapper.__name__ = orig.__name__
    setattr(cls, method, wrapper)


def _item_json(item):
    try:
        data = getattr(item, "data", item)
        return json.dumps(data, default=str)[:4096]
    except Exception:
        return None


_sub_counter = [0]


class _RecordedObservable:
    """An observable whose subscriptions record subscribe/next/error/completed/finally events."""

    def __init__(self, inner, thing, name, verb):
        self._inner = inner
        self._thing = thing
        self._name = name
        self._verb = verb

    def __getattr__(self, attr):
        return getattr(self._inner, attr)

    def pipe(self, *ops):
        return self._inner.pipe(*ops)

    def subscribe(self, on_next=None, on_error=None, on_completed=None, *args, **kwargs):
        from reactivex import abc as rxabc

        if isinstance(on_next, rxabc.ObserverBase) or hasattr(on_next, "on_next"):
            obs = on_next
            on_next, on_error, on_completed = obs.on_next, obs.on_error, obs.on_completed
        _sub_counter[0] += 1
        sub_id = "{}-{}".format(os.getpid(), _sub_counter[0])
        thing, name = self._thing, self._name
        _recorder.event(thing, name, sub_id, "subscribe", None)
        _recorder.interaction(thing, name, self._verb, "consumed", None, True, None, None, None)

        def n(item):
            _recorder.event(thing, name, sub_id, "next", _item_json(item))
            if on_next:
                on_next(item)

        def e(exc):
            _recorder.event(thing, name, sub_id, "error", json.dumps({"type": type(exc).__name__, "message": str(exc)}))
            _recorder.event(thing, name, sub_id, "finally", None)
            if on_error:
                on_error(exc)

        def c():
            _recorder.event(thing, name, sub_id, "completed", None)
            _recorder.event(thing, name, sub_id, "finally", None)
            if on_completed:
                on_completed()

        return self._inner.subscribe(n, e, c, *args, **kwargs)


def _wrap_observable(cls, method, verb):
    orig = getattr(cls, method)

    def wrapper(self, name, *args, **kwargs):
        return _RecordedObservable(orig(self, name, *args, **kwargs), _thing_id(self.td), name, verb)

    wrapper.__wrapped__ = orig
    setattr(cls, method, wrapper)


def _wrap_emit(cls):
    orig = cls.emit_event

    def emit_event(self, event_name, payload):
        try:
            result = orig(self, event_name, payload)
        except Exception as exc:
            et, em = _err(exc)
            _recorder.interaction(_thing_id(self.thing), event_name, "emitevent", "exposed", None, False, et, em, None)
            raise
        _recorder.interaction(_thing_id(self.thing), event_name, "emitevent", "exposed", None, True, None, None, None)
        return result

    emit_event.__wrapped__ = orig
    cls.emit_event = emit_event


def normalise_td(doc):
    """Accepts the TDs WoTemu 0.6 apps wrote for the WoTPy of that time (`name` instead of `title`, no
    `@context`, no security) and completes them as WoTPy 0.18 requires."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    doc = dict(doc)
    doc.setdefault("@context", ["https://www.w3.org/2019/wot/td/v1"])
    if "title" not in doc:
        doc["title"] = doc.get("name") or doc.get("id") or "thing"
    if "securityDefinitions" not in doc:
        doc["securityDefinitions"] = {"nosec_sc": {"scheme": "nosec"}}
        doc.setdefault("security", ["nosec_sc"])
    doc.setdefault("security", list(doc["securityDefinitions"].keys())[:1])
    return doc


_instrumented = [False]


def _wotpys_own(func):
    """WoTPy's own function behind `func`: a speed-up applied twice wraps WoTPy's, never its own copy."""
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def validate_tds_with_one_validator():
    """Makes WoTPy validate Thing Descriptions against its TD schema with one validator built once.

    WoTPy 0.18 validates every TD it builds (each catalogue request, each `consume`, each `produce`) with
    `jsonschema.validate(doc, SCHEMA_THING)`, which checks the schema itself against its meta-schema before
    each validation: 12 of the 12.6 ms a validation takes. At a hundred replicas starting together, the
    server's catalogue answers one reader at a time, and the readers consume on two shared cores: those
    checks were most of the wait. The validation is the one `jsonschema.validate` makes (same validator
    class, the errors' `best_match`, `InvalidDescription` with the same message), with the schema checked
    once; the zygote builds it before forking, so every agent shares it."""
    try:
        import jsonschema
        from wotpy.wot.td import ThingDescription
        from wotpy.wot.validation import SCHEMA_THING, InvalidDescription
    except ImportError:
        return  # another WoTPy than 0.18: left as it is

    cls = jsonschema.validators.validator_for(SCHEMA_THING)
    cls.check_schema(SCHEMA_THING)
    validator = cls(SCHEMA_THING)

    def validate(klass, doc):
        try:
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        except TypeError as ex:
            raise InvalidDescription(str(ex)) from ex
        if error is not None:
            raise InvalidDescription(str(error)) from error

    own = _wotpys_own(ThingDescription.validate.__func__)
    validate.__doc__ = own.__doc__
    validate.__wrapped__ = own
    ThingDescription.validate = classmethod(validate)


def to_dict_with_dir_once():
    """Makes WoTPy's dictionaries (`WotBaseDict.to_dict`) list their attributes once per call.

    WoTPy 0.18 rebuilds a thing's whole description each time it needs its title or id (every request it
    serves looks the thing up by them), and each dictionary's `to_dict` calls `dir(self)` and converts a
    field name to snake_case once for every field it does not hold (about 40 calls of each per dictionary):
    `dir` alone was a quarter of the CPU a property read took the server. The same method, with `dir(self)`
    taken once per call and the (pure) snake_case conversion remembered: the fields, their order and their
    values are those of WoTPy's own (the getters are called as often, in the same order)."""
    import functools

    try:
        from wotpy.utils.utils import to_snake
        from wotpy.wot.dictionaries.base import WotBaseDict
    except ImportError:
        return  # another WoTPy than 0.18: left as it is

    snake = functools.lru_cache(maxsize=4096)(to_snake)

    def is_list_wot_dicts(x):
        return isinstance(x, list) and len(x) and hasattr(x[0], "to_dict")

    def is_dict_wot_dicts(x):
        return isinstance(x, dict) and len(x) and hasattr(next(iter(x.values())), "to_dict")

    def to_dict(self):
        ret = {}
        names = None
        existing_fields = []
        for f in self.Meta.fields:
            if f in self._init:
                existing_fields.append(f)
                continue
            if names is None:
                names = set(dir(self))
            if snake(f) in names and getattr(self, snake(f)) is not None:
                existing_fields.append(f)
        for name_camel in existing_fields:
            field_val = getattr(self, snake(name_camel))
            if is_list_wot_dicts(field_val):
                field_val = [item.to_dict() for item in field_val]
            elif is_dict_wot_dicts(field_val):
                field_val = {key: val.to_dict() for key, val in field_val.items()}
            elif hasattr(field_val, "to_dict"):
                field_val = field_val.to_dict()
            ret.update({name_camel: field_val})
        return ret

    own = _wotpys_own(WotBaseDict.to_dict)
    to_dict.__doc__ = own.__doc__
    to_dict.__wrapped__ = own
    WotBaseDict.to_dict = to_dict


def thing_title_and_id_from_the_fragment():
    """Makes WoTPy's `Thing.title` and `Thing.id` read the thing's fragment instead of rebuilding it.

    WoTPy 0.18's `Thing.title` is `self.thing_fragment.title`, where `thing_fragment` builds a new
    `ThingFragment` from the whole description (every interaction and form through `to_dict`), only to read
    one field that it copied unchanged from `self._thing_fragment`: the server looks a thing up by title
    three times per request, half the CPU a property read took it. The title is read-only and the id is
    copied as it is, so both are the values of `self._thing_fragment`."""
    try:
        from wotpy.wot.thing import Thing
    except ImportError:
        return  # another WoTPy than 0.18: left as it is

    def fragment_field(name, original):
        def get(self):
            return getattr(self._thing_fragment, name)

        own = _wotpys_own(original.fget)
        get.__doc__ = own.__doc__
        get.__wrapped__ = own
        return property(get)

    Thing.title = fragment_field("title", Thing.title)
    Thing.id = fragment_field("id", Thing.id)


def instrument():
    """Wraps WoTPy's consumed and exposed things (once), and makes three of its slow paths fast with the
    same results (`validate_tds_with_one_validator`, `to_dict_with_dir_once`,
    `thing_title_and_id_from_the_fragment`). The zygote calls it before forking: the agents inherit it."""
    if _instrumented[0]:
        return
    validate_tds_with_one_validator()
    to_dict_with_dir_once()
    thing_title_and_id_from_the_fragment()
    from wotpy.wot.consumed.thing import ConsumedThing
    from wotpy.wot.exposed.thing import ExposedThing
    from wotpy.wot.wot import WoT

    _wrap_async(ConsumedThing, "read_property", "readproperty", "consumed")
    _wrap_async(ConsumedThing, "write_property", "writeproperty", "consumed")
    _wrap_async(ConsumedThing, "invoke_action", "invokeaction", "consumed")
    _wrap_observable(ConsumedThing, "on_event", "subscribeevent")
    _wrap_observable(ConsumedThing, "on_property_change", "observeproperty")
    _wrap_async(ExposedThing, "read_property", "readproperty", "exposed")
    _wrap_async(ExposedThing, "write_property", "writeproperty", "exposed")
    _wrap_async(ExposedThing, "invoke_action", "invokeaction", "exposed")
    _wrap_emit(ExposedThing)

    orig_produce = WoT.produce

    def produce(self, model):
        if isinstance(model, (str, dict)):
            model = json.dumps(normalise_td(model))
        return orig_produce(self, model)

    WoT.produce = produce
    _instrumented[0] = True


# -------------------------------------------------------------------------------------------------- the app


def load_app(path):
    """The `app` coroutine function of a builtin name (`reader`, `wotemu_reader`), a URL or a file."""
    key = path.strip()
    short = key[len("wotemu_"):] if key.startswith("wotemu_") else key
    if short in BUILTINS:
        module = importlib.import_module("wotemu_agent.apps." + short)
    elif key.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(key, timeout=30) as resp:
                code = resp.read().decode("utf-8")
        except Exception as exc:
            raise AppError("cannot download the app from {}: {}".format(key, exc)) from exc
        module = types.ModuleType("wotemu_user_app")
        module.__file__ = key
        exec(compile(code, key, "exec"), module.__dict__)
    else:
        if not os.path.isfile(key):
            raise AppError(
                "the app file {} does not exist; give a builtin app name ({}), a URL or an existing file".format(
                    key, ", ".join(sorted(BUILTINS))
                )
            )
        spec = importlib.util.spec_from_file_location("wotemu_user_app", key)
        module = importlib.util.module_from_spec(spec)
        sys.modules["wotemu_user_app"] = module
        spec.loader.exec_module(module)
    func = getattr(module, "app", None)
    if func is None or not asyncio.iscoroutinefunction(func):
        raise AppError("{} has no `async def app(wot, conf, loop, **params)` function".format(path))
    return func


# The builtin apps this version ships: set by the agent (Rust) from wotemu's one list of builtins
# (`wotemu_contract::apps`) when it imports this package; each is a module `wotemu_agent.apps.<name>`.
BUILTINS = set()


def check(config_json):
    """Loads the app without running it (`wotemu agent --dry-run`); returns its module's file."""
    cfg = json.loads(config_json)
    func = load_app(cfg["path"])
    import inspect

    sig = inspect.signature(func)
    params = cfg.get("params", {})
    has_kwargs = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    for k in params:
        if not has_kwargs and k not in sig.parameters:
            raise AppError("the app does not take a parameter `{}` (it takes: {})".format(k, ", ".join(sig.parameters)))
    # A builtin may check its parameters' values too (`check_params(params)`, raising ValueError).
    check_params = getattr(sys.modules.get(func.__module__), "check_params", None)
    if check_params is not None:
        try:
            check_params(params)
        except ValueError as exc:
            raise AppError("parameter: {}".format(exc)) from None
    import wotpy  # noqa: F401  (the dependency must be importable)

    return getattr(sys.modules.get(func.__module__), "__file__", cfg["path"])


def _conf(cfg):
    """The `conf` argument: WoTemu 0.6's `wotemu.config.EnvConfig`, from the agent's configuration."""
    from wotemu.config import EnvConfig, get_env_config

    env = get_env_config()
    ports = cfg["ports"]
    mqtt_url = cfg.get("mqtt_url")
    broker = None
    if mqtt_url:
        broker = mqtt_url.split("://", 1)[-1].rsplit(":", 1)[0]
    return EnvConfig(
        port_catalogue=ports["catalogue"],
        port_http=ports["http"],
        port_coap=ports["coap"],
        port_ws=ports["ws"],
        port_mqtt=ports["mqtt"],
        mqtt_broker_host=broker or env.mqtt_broker_host,
        mqtt_url=mqtt_url,
        redis_url=cfg.get("redis_url"),
        docker_proxy_url=env.docker_proxy_url,
        other_ports_tcp=env.other_ports_tcp,
        other_ports_udp=env.other_ports_udp,
        hostname=cfg.get("hostname"),
        task=cfg.get("task"),
        stack=cfg.get("stack"),
        node=cfg.get("node"),
    )


def _servient(cfg):
    from wotpy.wot.servient import Servient

    ports = cfg["ports"]
    servient = Servient(hostname=cfg.get("hostname") or None, catalogue_port=ports["catalogue"])
    if cfg.get("http"):
        from wotpy.protocols.http.server import HTTPServer

        servient.add_server(HTTPServer(port=ports["http"]))
    if cfg.get("ws"):
        from wotpy.protocols.ws.server import WebsocketServer

        servient.add_server(WebsocketServer(port=ports["ws"]))
    if cfg.get("coap"):
        from wotpy.protocols.coap.server import CoAPServer

        servient.add_server(CoAPServer(port=ports["coap"]))
    if cfg.get("mqtt"):
        if not cfg.get("mqtt_url"):
            raise AppError("MQTT is enabled but no broker is known: set MQTT_BROKER_HOST")
        from wotpy.protocols.mqtt.server import MQTTServer

        servient.add_server(MQTTServer(broker_url=cfg["mqtt_url"]))
    return servient


def run(config_json, rec):
    """Runs the app until the agent asks to stop. Raises what the app raised."""
    global _recorder
    _recorder = rec
    cfg = json.loads(config_json)
    real_out, real_err = sys.stdout, sys.stderr
    out, err = _LineWriter("stdout", real_out), _LineWriter("stderr", real_err)
    sys.stdout, sys.stderr = out, err
    logging.basicConfig(
        level=getattr(logging, cfg.get("log_level", "INFO").upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=err,
        force=True,
    )
    try:
        _run_bounded(_main(cfg, rec))
    finally:
        out.close_buffer()
        err.close_buffer()
        sys.stdout, sys.stderr = real_out, real_err


async def _main(cfg, rec):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop():
        # Should the stop not end in time (a call that blocks the loop), the log tells where each thread is.
        faulthandler.dump_traceback_later(STOP_DIAGNOSIS_SECS, file=sys.__stderr__)
        loop.call_soon_threadsafe(stop.set)

    rec.set_stopper(request_stop)
    failure = []

    def on_exception(loop_, context):
        exc = context.get("exception")
        loop_.default_exception_handler(context)
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            failure.append(exc)
            stop.set()

    loop.set_exception_handler(on_exception)
    func = load_app(cfg["path"])
    instrument()
    servient = _servient(cfg)
    wot = await servient.start()
    rec.started()
    app_task = loop.create_task(func(wot, _conf(cfg), loop, **cfg.get("params", {})))
    stop_task = loop.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({app_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if app_task in done:
            app_task.result()  # raises what the app raised
            # 0.6 apps return once they have scheduled their work: keep serving until asked to stop.
            await stop_task
        if failure:
            raise failure[0]
    finally:
        pending = record_pending()
        if pending:
            logging.getLogger("wotemu").warning("%d interactions had no answer when the run stopped", pending)
        for t in asyncio.all_tasks(loop):
            if t is not asyncio.current_task():
                t.cancel()
        # Not asyncio.wait_for: on its timeout it cancels the shutdown and then waits, without a bound, for
        # the cancellation to end, which a task that swallows it never does (WoTPy's MQTT runner can).
        shutdown = loop.create_task(servient.shutdown())
        done, _ = await asyncio.wait({shutdown}, timeout=SHUTDOWN_SECS)
        log = logging.getLogger("wotemu")
        if not done:
            shutdown.cancel()
            log.warning("the servient had not shut down %s s after the stop; left as it was", SHUTDOWN_SECS)
        elif not shutdown.cancelled() and shutdown.exception() is not None:
            exc = shutdown.exception()
            log.warning("servient shutdown failed:\n%s", format_exception(exc))


#: Seconds the servient is given to shut down, and the tasks left after the app to end once cancelled.
SHUTDOWN_SECS = 5
LEFT_TASKS_SECS = 2
#: After a stop request, when every thread's Python stack is written to stderr (the replica's log) if the
#: agent has not stopped yet: later than the bounded stop below can take.
STOP_DIAGNOSIS_SECS = SHUTDOWN_SECS + 3 * LEFT_TASKS_SECS + 1


def _run_bounded(main):
    """`asyncio.run(main)` whose clean-up ends: asyncio.run waits, without a bound, for every task left to
    end after it is cancelled, and for the default executor's threads; a task that swallows its
    cancellation (a `while not stopped:` loop around `asyncio.wait_for`, whose Python 3.11 version can return
    a result instead of raising the cancellation) or a blocked thread would keep the agent from stopping.
    Here the tasks left are cancelled again until they end, for at most `LEFT_TASKS_SECS`, and then left."""
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_left_tasks(loop)
            for job in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
                task = loop.create_task(job)
                loop.run_until_complete(asyncio.wait({task}, timeout=LEFT_TASKS_SECS))
                if not task.done():
                    task.cancel()
        finally:
            faulthandler.cancel_dump_traceback_later()
            asyncio.set_event_loop(None)
            # Closing does not wait for the executor's threads.
            loop.close()


def _cancel_left_tasks(loop):
    deadline = time.monotonic() + LEFT_TASKS_SECS
    left = {t for t in asyncio.all_tasks(loop) if not t.done()}
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logging.getLogger("wotemu").warning(
                "%d tasks did not end when cancelled at the stop (left as they were): %s",
                len(left),
                ", ".join(sorted(_task_name(t) for t in left)),
            )
            return
        for t in left:
            t.cancel()
        # Short rounds, so that a task that swallowed a cancellation gets another one.
        loop.run_until_complete(asyncio.wait(left, timeout=min(remaining, 0.1)))
        for t in left:
            if t.done() and not t.cancelled() and t.exception() is not None:
                loop.call_exception_handler(
                    {"message": "a task failed while the agent stopped", "exception": t.exception(), "task": t}
                )
        left = {t for t in left if not t.done()}


def _task_name(task):
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()


def format_exception(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
