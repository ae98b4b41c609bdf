"""Reading what we federate as a JSON-LD processor does (PyLD), offline.

Strict servers (Fedify's: Ghost's ActivityPub, Hollo) expand every document they receive and
keep only what expands to an IRI; a term that no context defines is dropped. ``expand`` does
the same, with a document loader that serves the two remote contexts we name from the files in
``tests/support/contexts/`` (copies of the ActivityStreams and security contexts Fedify preloads)
and refuses any other URL, so nothing is downloaded and an unknown context fails loudly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyld import jsonld

AS = "https://www.w3.org/ns/activitystreams#"
TOOT = "http://joinmastodon.org/ns#"
SCHEMA = "http://schema.org#"
MZ = "https://joinmobilizon.org/ns#"

_DIR = Path(__file__).parent / "contexts"
_CONTEXTS = {
    "https://www.w3.org/ns/activitystreams": "activitystreams.jsonld",
    "https://w3id.org/security/v1": "security-v1.jsonld",
}


def _loader(url: str, _options: dict[str, Any]) -> dict[str, Any]:
    name = _CONTEXTS.get(url.rstrip("#"))
    if name is None:
        raise AssertionError(f"a JSON-LD processor would have to fetch {url}")
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": json.loads((_DIR / name).read_text()),
    }


def expand(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``doc`` expanded, and the properties a processor dropped from it (none, we hope)."""
    dropped: list[str] = []
    expanded = jsonld.expand(
        doc,
        {"documentLoader": _loader},  # type: ignore[typeddict-item]
        on_property_dropped=lambda name: dropped.append(str(name)),
    )
    assert len(expanded) == 1, expanded
    return expanded[0], dropped


def values(node: dict[str, Any], iri: str) -> list[Any]:
    """The plain values (``@value`` or ``@id``) of property ``iri`` of an expanded node."""
    out: list[Any] = []
    for item in node.get(iri, []):
        if isinstance(item, dict) and "@value" in item:
            out.append(item["@value"])
        elif isinstance(item, dict) and "@id" in item and len(item) == 1:
            out.append(item["@id"])
        else:
            out.append(item)
    return out


def one(node: dict[str, Any], iri: str) -> Any:
    """The single value of ``iri`` (fails unless there is exactly one)."""
    found = values(node, iri)
    assert len(found) == 1, (iri, node)
    return found[0]
