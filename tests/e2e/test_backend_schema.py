"""The vocabulary's published JSON Schema (docs/backends/vocabulary.schema.json, generated
from the Rust types and kept current by pontoon-core's test) read as a backend author's
validator would: the JSON the core reads and writes passes, a malformed message does not."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs/backends/vocabulary.schema.json").read_text())


def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], **SCHEMA["properties"][kind]}
    return jsonschema.Draft202012Validator(schema)


GOOD = [
    ("event", "connected"),
    ("event", {"message": {"from": {"name": "bob"}, "body": "hi"}}),
    ("event", {"message": {"from": {"name": "bob"}, "body": "from my phone", "by_user": True}}),
    ("event", {"member_of": {"rooms": [{"room": {"name": "#a"}, "name": "A", "occupants": None, "topic": None}]}}),
    ("event", {"contact_list": {"contacts": [{"id": {"name": "echo"}, "name": "Echo"}]}}),
    ("command", {"send_room_message": {"room": {"name": "#c", "network": "irc.example.org"}, "body": "waves",
                                       "kind": "action", "ids": {"id": "m1", "origin_id": None},
                                       "reply_to": None, "attachments": []}}),
]

BAD = [
    ("event", {"message": {"body": "no sender"}}),
    ("event", {"no_such_event": {}}),
    ("command", {"send_room_message": {"room": "#c"}}),
]


@pytest.mark.parametrize("kind,message", GOOD)
def test_what_the_core_speaks_passes(kind, message):
    validator(kind).validate(message)


@pytest.mark.parametrize("kind,message", BAD)
def test_a_malformed_message_does_not(kind, message):
    with pytest.raises(jsonschema.ValidationError):
        validator(kind).validate(message)


def test_the_schema_is_the_current_vocabulary():
    assert SCHEMA["version"] == 2
    assert {"LegacyCommand", "LegacyEvent", "Descriptor"} <= set(SCHEMA["$defs"])
