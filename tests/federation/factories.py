"""Small factories for the federation tests: the FederationService as the registry wires it for
a test's settings, and an object to publish. (The remote servers and actors the tests talk to
are stand-ins in tests/support/activitypub.py.)"""

from __future__ import annotations

from shared.config import Settings
from shared.contracts import ApObjectDTO, FederationService
from shared.services.registry import build_services


def federation_for(settings: Settings) -> FederationService:
    """The federation service as the registry wires it for ``settings``."""
    return build_services(settings).federation


def note(content: str) -> ApObjectDTO:
    return ApObjectDTO({"type": "Note", "content": content})
