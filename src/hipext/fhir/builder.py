"""Bundle plumbing: deterministic ids, generated narrative on every resource, and the local codes the bundle defines."""

from __future__ import annotations

import json
import uuid
from functools import cached_property
from typing import Any

from hipext import evidence
from hipext.evidence.models import Protocol
from hipext.fhir import codes as C
from hipext.fhir.narrative import narrative

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, C.BASE)

Json = dict[str, Any]


def ref(full_url: str) -> Json:
    return {"reference": full_url}


def quantity(value: float, unit: str) -> Json:
    code, shown = C.UCUM_UNITS[unit]
    return {"value": value, "unit": shown, "system": C.UCUM, "code": code}


def words(s: str) -> str:
    return s.replace("_", " ")


def sentence(s: str) -> str:
    s = s.strip()
    return s if s.endswith((".", "!", "?")) else s + "."


class Builder:
    """Collects entries and the local codes they use, so the bundle can define every local code it emits.

    Every resource gets a deterministic id (uuid5 of the case id, its key and its content), `meta.source` naming
    hipext and its version, and a generated narrative made from its own elements.
    """

    def __init__(self, case_id: str, version: str) -> None:
        self.case_id = case_id
        self.version = version
        self.protocols = evidence.load().protocols
        self.source = f"{C.BASE}/software/hipext/{version}"
        self.entries: list[Json] = []
        self.used: set[str] = set()
        # Local concepts used: system -> code -> (display, definition or None); kept in first-use order.
        self.concepts: dict[str, dict[str, tuple[str, str | None]]] = {}

    @cached_property
    def exercises(self) -> dict[str, Any]:
        from hipext.care import data

        return data.exercises()

    def add(self, key: str, resource: Json) -> str:
        """Give the resource a deterministic id, a narrative and a fullUrl, append it, and return the fullUrl."""
        content = json.dumps([self.case_id, key, resource], sort_keys=True, ensure_ascii=False)
        rid = str(uuid.uuid5(NAMESPACE, content))
        salt = 0
        while rid in self.used:  # identical content under the same key: keep every resource distinct
            salt += 1
            rid = str(uuid.uuid5(NAMESPACE, f"{content}#{salt}"))
        self.used.add(rid)
        kind = resource.pop("resourceType")
        meta = {"source": self.source, **resource.pop("meta", {})}
        body = {"resourceType": kind, "id": rid, "meta": meta, **resource}
        body = {"resourceType": kind, "id": rid, "meta": meta, "text": narrative(body), **resource}
        full_url = f"urn:uuid:{rid}"
        self.entries.append({"fullUrl": full_url, "resource": body})
        return full_url

    def local(self, system: str, code: str, display: str, definition: str | None = None) -> Json:
        self.concepts.setdefault(system, {}).setdefault(code, (display, definition))
        return {"system": system, "code": code, "display": display}

    def measure(self, code: str) -> Json:
        display, definition = C.MEASURES[code]
        return self.local(C.CS_MEASURE, code, display, definition)

    def test_coding(self, proto: Protocol) -> Json:
        return self.local(C.CS_TEST, proto.id, proto.name, proto.description)

    def item_text(self, proto: Protocol, number: int) -> str | None:
        rule = evidence.load().proms.get(proto.instrument or "")
        return rule.item_labels.get(number) if rule else None
