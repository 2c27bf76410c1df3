"""Write Pontoon backends in Python: subclass :class:`Backend`, override the handlers your
network supports, and run it with :meth:`Backend.main`.

Pontoon starts a backend as a process of its own and speaks to it in JSON lines over its
stdin and stdout (``docs/backends.md``); this package speaks that protocol for you. The
builders of events for :meth:`Session.event` are in :mod:`pontoon_backend.vocabulary`.
"""

from . import vocabulary
from .backend import MAX_STATE, Backend, Session, run
from .protocol import MAX_LINE, PROTOCOL_VERSION, Json, LineWriter, ProtocolError
from .vocabulary import (VOCABULARY_VERSION, Account, Address, AddressRules, Availability, ClientIds, Contact,
                         Descriptor, Event, LegacyId, LoginFields, MessageKind, Occupant, RegistrationField,
                         TransportCommand)

__all__ = [
    "Backend", "Session", "run", "vocabulary", "MAX_LINE", "MAX_STATE", "PROTOCOL_VERSION", "VOCABULARY_VERSION",
    "Json", "LineWriter", "ProtocolError", "Account", "Address", "AddressRules", "Availability", "ClientIds",
    "Contact", "Descriptor", "Event", "LegacyId", "LoginFields", "MessageKind", "Occupant", "RegistrationField",
    "TransportCommand",
]
