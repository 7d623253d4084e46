"""The agent's speed-ups of WoTPy, each against WoTPy's own: the TD validation with one validator
(`wotemu_agent.validate_tds_with_one_validator`) accepts and rejects what WoTPy's accepts and rejects, with
the same message; the dictionaries' `to_dict` with `dir` once (`wotemu_agent.to_dict_with_dir_once`) gives
the same documents, keys in the same order; a thing's title and id read from its fragment
(`wotemu_agent.thing_title_and_id_from_the_fragment`) are those WoTPy's rebuilt description gives.

Run by `cargo nextest` (agent/tests/it/python_apps.rs) with the checkout's venv."""

import asyncio
import copy
import json
import unittest

import jsonschema
from wotpy.wot.dictionaries.base import WotBaseDict
from wotpy.wot.dictionaries.thing import ThingFragment
from wotpy.protocols.http.server import HTTPServer
from wotpy.wot.servient import Servient
from wotpy.wot.td import ThingDescription
from wotpy.wot.thing import Thing
from wotpy.wot.validation import SCHEMA_THING, InvalidDescription

import wotemu_agent

VALID = {
    "@context": "https://www.w3.org/2019/wot/td/v1",
    "id": "urn:wotemu:test",
    "title": "test",
    "security": ["nosec_sc"],
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "properties": {
        "temperature": {"type": "number", "observable": True, "forms": [{"href": "http://h/temperature"}]},
    },
}


def invalid_docs():
    no_title = copy.deepcopy(VALID)
    del no_title["title"]
    bad_type = copy.deepcopy(VALID)
    bad_type["properties"]["temperature"]["type"] = 42
    bad_security = copy.deepcopy(VALID)
    bad_security["securityDefinitions"] = "nosec"
    return [no_title, bad_type, bad_security, "not a document"]


def message(validate, doc):
    try:
        validate(doc)
    except InvalidDescription as exc:
        return str(exc)
    return None


class OneValidatorTest(unittest.TestCase):
    def test_same_verdicts_and_messages_as_wotpys_own(self):
        wotemu_agent.validate_tds_with_one_validator()
        patched = ThingDescription.validate
        # WoTPy's own, whichever test applied the speed-up first.
        original = classmethod(patched.__func__.__wrapped__).__get__(None, ThingDescription)
        self.assertEqual(original.__func__.__module__, "wotpy.wot.td")
        self.assertIsNot(patched.__func__, original.__func__)
        docs = [VALID, *invalid_docs()]
        expected = [message(original, d) for d in docs]
        got = [message(patched, d) for d in docs]
        self.assertIsNone(got[0])
        first_lines = [m and m.splitlines()[0] for m in got]
        self.assertTrue(all(got[1:]), first_lines)
        self.assertTrue(got == expected, first_lines)

    def test_the_schema_is_checked_once(self):
        wotemu_agent.validate_tds_with_one_validator()
        # The TD schema is a draft 7 schema: `jsonschema.validate` checks it with Draft7Validator's.
        self.assertIs(jsonschema.validators.validator_for(SCHEMA_THING), jsonschema.Draft7Validator)
        checks = []
        orig_check = jsonschema.Draft7Validator.check_schema

        def counting(cls, schema, *a, **kw):
            checks.append(1)
            return orig_check.__func__(cls, schema, *a, **kw)

        jsonschema.Draft7Validator.check_schema = classmethod(counting)
        try:
            for _ in range(5):
                ThingDescription(copy.deepcopy(VALID))
            # The premise: WoTPy's own validation would have checked the schema each time.
            jsonschema.validate(VALID, SCHEMA_THING)
        finally:
            jsonschema.Draft7Validator.check_schema = orig_check
        self.assertEqual(len(checks), 1)


RICH = {
    "@context": ["https://www.w3.org/2019/wot/td/v1", {"saref": "https://w3id.org/saref#"}],
    "id": "urn:wotemu:rich",
    "title": "rich",
    "description": "every kind of interaction",
    "@type": ["saref:Sensor"],
    "security": ["basic_sc"],
    "securityDefinitions": {"basic_sc": {"scheme": "basic", "in": "header"}},
    "links": [{"href": "http://example.org/doc", "rel": "help"}],
    "properties": {
        "temperature": {"type": "number", "observable": True, "readOnly": True, "unit": "celsius", "minimum": -40},
        "status": {"type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]},
        "history": {"type": "array", "items": {"type": "number"}, "maxItems": 10},
    },
    "actions": {
        "reset": {"input": {"type": "object", "properties": {"hard": {"type": "boolean"}}}, "output": {"type": "string"}},
        "noop": {"safe": True, "idempotent": True},
    },
    "events": {"alarm": {"data": {"type": "string"}, "description": "too hot"}},
}


def dumped(compute):
    return json.dumps(compute())  # keys in their order: the order is part of the document


class ToDictTest(unittest.TestCase):
    def documents(self):
        """Documents WoTPy builds with `to_dict`: a TD's fragment, and an exposed thing's description with
        its forms (the catalogue's document)."""

        async def exposed_description():
            servient = Servient(catalogue_port=None, hostname="127.0.0.1")
            servient.add_server(HTTPServer(port=0))
            wot = await servient.start()
            try:
                exposed = wot.produce(json.dumps(RICH))
                exposed.expose()
                return ThingDescription.from_thing(exposed.thing).to_dict()
            finally:
                await servient.shutdown()

        return [
            dumped(lambda: ThingFragment(copy.deepcopy(RICH)).to_dict()),
            dumped(lambda: ThingFragment(copy.deepcopy(VALID)).to_dict()),
            dumped(lambda: asyncio.run(exposed_description())),
        ]

    def test_same_documents_as_wotpys_own(self):
        wotemu_agent.to_dict_with_dir_once()
        patched = WotBaseDict.to_dict
        original = patched.__wrapped__
        WotBaseDict.to_dict = original
        try:
            expected = self.documents()
        finally:
            WotBaseDict.to_dict = patched
        got = self.documents()
        self.assertGreater(len(json.loads(expected[0])), 5)
        self.assertIn('"href": "http://127.0.0.1:0/rich/action/reset"', expected[2])
        self.assertEqual(got, expected)


class ThingTitleAndIdTest(unittest.TestCase):
    def test_same_title_id_and_url_name_as_wotpys_own(self):
        no_id = copy.deepcopy(VALID)
        del no_id["id"]
        no_id["title"] = "no id"
        spaced = copy.deepcopy(RICH)
        spaced["title"] = "A rich thing, with spaces"

        def names():
            """(title, id, url_name) of things produced from TDs, before and after a property is added."""

            async def produce_all():
                servient = Servient(catalogue_port=None, hostname="127.0.0.1")
                wot = await servient.start()
                try:
                    out = []
                    for td in (VALID, RICH, no_id, spaced):
                        exposed = wot.produce(json.dumps(td))
                        thing = exposed.thing
                        out.append((thing.title, thing.id, thing.url_name))
                        exposed.add_property("added", {"type": "string"}, value="x")
                        out.append((thing.title, thing.id, thing.url_name, sorted(thing.properties)))
                    return out
                finally:
                    await servient.shutdown()

            return asyncio.run(produce_all())

        wotemu_agent.thing_title_and_id_from_the_fragment()
        patched = (Thing.title, Thing.id)
        original = (property(Thing.title.fget.__wrapped__), property(Thing.id.fget.__wrapped__))
        self.assertIsNot(patched[0].fget, original[0].fget)
        Thing.title, Thing.id = original
        try:
            expected = names()
        finally:
            Thing.title, Thing.id = patched
        got = names()
        self.assertEqual(expected[0], ("test", "urn:wotemu:test", "test"))
        self.assertEqual(expected[4][:2], ("no id", None))
        self.assertEqual(expected[6][2], "a-rich-thing-with-spaces")
        self.assertEqual(got, expected)


if __name__ == "__main__":
    unittest.main()
