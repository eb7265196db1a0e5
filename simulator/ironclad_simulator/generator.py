"""Seeded generator of realistic records, driven by the records schema (every writable property type).

One file on purpose: the seeded record generator, whose property tables are most of its length.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ironclad_simulator.clock import iso_ms
from ironclad_simulator.records import agreement_ts
from ironclad_simulator.schema import RecordsSchema
from ironclad_simulator.state import Attachment, Company, Record, SimulatorState

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)  # generated business dates are relative to this fixed day

COMPANY_WORDS_A = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Cyberdyne",
    "Soylent",
    "Tyrell",
    "Aperture",
    "Massive",
    "Oscorp",
    "Nakatomi",
    "Gringotts",
    "Pied Piper",
    "Dunder",
    "Prestige",
    "Blue Sun",
    "Monarch",
    "Sterling",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Litware",
]
COMPANY_WORDS_B = [
    "Corporation",
    "Industries",
    "Holdings",
    "Labs",
    "Systems",
    "Logistics",
    "Partners",
    "Group",
    "Technologies",
    "Consulting",
    "Analytics",
    "Manufacturing",
    "Health",
    "Capital",
    "Media",
]
COMPANY_SUFFIX = ["Inc.", "LLC", "Ltd", "GmbH", "S.A.", "B.V.", "plc", "Pty Ltd", ""]
FIRST = ["Jane", "John", "Maria", "Wei", "Aisha", "Carlos", "Priya", "Tom", "Olga", "Kenji", "Fatima", "Liam"]
LAST = ["Doe", "Smith", "Garcia", "Chen", "Khan", "Müller", "Rossi", "Okafor", "Nakamura", "Dubois", "Novak"]
KINDS = [
    "Mutual NDA",
    "Master Services Agreement",
    "Statement of Work",
    "Consulting Agreement",
    "Data Processing Agreement",
    "Software License Agreement",
    "Reseller Agreement",
    "Order Form",
    "Supply Agreement",
    "Employment Agreement",
    "Lease Agreement",
    "Partnership Agreement",
]
CITIES = [
    ("San Francisco", "CA", "94105", "United States"),
    ("New York", "NY", "10001", "United States"),
    ("Austin", "TX", "73301", "United States"),
    ("London", "", "EC1A 1BB", "United Kingdom"),
    ("Berlin", "", "10115", "Germany"),
    ("Paris", "", "75001", "France"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Amsterdam", "", "1012 JS", "Netherlands"),
    ("Sydney", "NSW", "2000", "Australia"),
]
STREETS = ["Market St", "Main St", "High Street", "Friedrichstraße", "Rue de Rivoli", "King St W", "Damrak"]
CURRENCIES = ["USD", "USD", "USD", "EUR", "GBP", "CAD", "AUD", "JPY"]
DURATIONS = ["P1Y", "P2Y", "P3Y", "P6M", "P30D", "P60D", "P90D", "P2W", "P1Y6M", "P10Y3M2W1D"]
STRING_VALUES: dict[str, list[str]] = {
    "venue": ["State of Delaware", "State of New York", "England and Wales", "Germany", "California"],
    "standard_renewalType": ["Auto-Renew", "Fixed Term", "Evergreen", "Optional Extension"],
    "standard_department": ["Legal", "Sales", "Procurement", "Engineering", "Finance", "HR", "Marketing"],
    "smartImportProperty_paymentFrequency": ["Monthly", "Quarterly", "Annually", "One-time"],
    "smartImportProperty_paymentTerm": ["Net 30", "Net 45", "Net 60", "Due on receipt"],
    "smartImportProperty_contractType": KINDS,
    "paperSource": ["Our paper", "Counterparty paper"],
    "terminationForConvenience": ["Either party, 30 days notice", "Not permitted", "Customer only"],
    "workflowProcessAttributes_signatureProvider": ["DocuSign", "Ironclad Signature", "Adobe Sign"],
}
CORE_PROPS: dict[str, float] = {
    "counterpartyName": 0.97,
    "agreementDate": 0.85,
    "effectiveDate": 0.7,
    "expirationDate": 0.55,
    "contractValue": 0.5,
    "contractOwner": 0.6,
    "counterpartyAddress": 0.4,
    "counterpartySigner": 0.5,
    "counterpartySignerEmail": 0.45,
    "standard_contractSide": 0.6,
    "standard_renewalType": 0.4,
    "standard_initialTermLength": 0.35,
    "standard_businessCriticality": 0.3,
    "standard_intentToRenew": 0.2,
    "standard_department": 0.4,
    "entity_reference": 0.15,
    "entity_references": 0.1,
}
OTHER_PROB = 0.08
SKIP_TYPES = frozenset({"document", "workflow"})


@dataclass
class SeedOptions:
    count: int
    seed: int = 0
    document_ratio: float = 0.3
    min_document_bytes: int = 2_000
    max_document_bytes: int = 50_000
    amendment_ratio: float = 0.08
    # Last edited this long ago, as a real tenant's records mostly are (0: just now).
    age_seconds: float = 0.0


def _company_name(rng: random.Random) -> str:
    suffix = rng.choice(COMPANY_SUFFIX)
    name = f"{rng.choice(COMPANY_WORDS_A)} {rng.choice(COMPANY_WORDS_B)}"
    return f"{name} {suffix}".strip()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _slug(text: str) -> str:
    return "".join(c for c in text.lower().split(" ")[0] if c.isalnum()) or "example"


def _date(rng: random.Random, base: datetime, days_lo: int, days_hi: int) -> str:
    d = (base + timedelta(days=rng.randint(days_lo, days_hi))).replace(hour=0, minute=0, second=0)
    style = rng.random()
    if style < 0.55:
        return d.strftime("%Y-%m-%dT00:00:00Z")
    if style < 0.8:
        return d.strftime("%Y-%m-%dT00:00:00.000Z")
    offset = rng.choice(["-07:00", "-05:00", "+01:00", "+02:00", "+05:30", "-08:00"])
    return d.strftime("%Y-%m-%dT00:00:00") + offset


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class RecordFactory:
    def __init__(self, schema: RecordsSchema, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng
        self.other_keys = [
            k for k, t in schema.prop_types.items() if t not in SKIP_TYPES and k not in CORE_PROPS
        ]
        self.types = list(schema.record_types)
        self.type_weights = [3 if i == 0 else 1 for i in range(len(self.types))]

    def value_for(self, key: str, ptype: str, ctx: dict[str, Any]) -> Any:
        rng = self.rng
        if self.schema.enum_options.get(key):
            return rng.choice(self.schema.enum_options[key])
        if ptype == "string":
            if key == "counterpartyName":
                return ctx["counterparty"]
            if key in (
                "counterpartySigner",
                "workflowOwner",
                "workflowCreator",
                "standard_autorenewalCancelledBy",
            ):
                return ctx["signer"]
            if key in STRING_VALUES:
                return rng.choice(STRING_VALUES[key])
            if key.endswith("Title"):
                return rng.choice(["CEO", "General Counsel", "VP Sales", "CFO", "Procurement Manager"])
            if key in ("workflowId",):
                return f"{rng.getrandbits(96):024x}"
            return rng.choice(
                [
                    "Standard terms apply.",
                    f"Negotiated with {ctx['signer']}",
                    "See schedule A.",
                    "Renewal requires 60 days written notice.",
                    f"Reference {rng.randint(1000, 99999)}",
                    "Confidential — internal use only",
                ]
            )
        if ptype == "number":
            if rng.random() < 0.2:
                return round(rng.uniform(0, 1000), 2)
            return rng.randint(0, 500)
        if ptype == "boolean":
            return rng.random() < 0.5
        if ptype == "date":
            return _date(rng, ctx["agreement"], -30, 1100)
        if ptype == "duration":
            return rng.choice(DURATIONS)
        if ptype == "email":
            if key == "contractOwner":
                return rng.choice(ctx["owners"])
            return f"{ctx['signer'].split()[0].lower()}@{_slug(ctx['counterparty'])}.example.com"
        if ptype == "monetary_amount":
            if rng.random() < 0.35:
                amount: float | int = round(rng.uniform(100, 2_000_000), 2)
            else:
                amount = rng.randrange(1_000, 5_000_000, 500)
            return {"amount": amount, "currency": rng.choice(CURRENCIES)}
        if ptype == "address":
            city, region, postcode, country = rng.choice(CITIES)
            lines = [f"{rng.randint(1, 999)} {rng.choice(STREETS)}"]
            if rng.random() < 0.3:
                lines.append(f"Suite {rng.randint(100, 2000)}")
            raw = ", ".join([*lines, city, f"{region} {postcode}".strip(), country])
            return {
                "lines": lines,
                "locality": city,
                "region": region,
                "postcode": postcode,
                "country": country,
                "raw": raw,
            }
        if ptype == "array":
            return [_uuid(rng) for _ in range(rng.randint(1, 3))]
        if ptype == "reference":
            return {"recordId": _uuid(rng)}
        return f"value {rng.randint(1, 100)}"

    def make(
        self,
        state: SimulatorState,
        company: Company,
        ts_ms: int,
        opts: SeedOptions,
        source: dict[str, Any] | None = None,
    ) -> Record:
        rng = self.rng
        counterparty = _company_name(rng)
        kind = rng.choice(KINDS)
        agreement = ANCHOR - timedelta(days=rng.randint(0, 2500))
        owners = [u.email for u in company.users.values()] or ["owner@example.com"]
        ctx: dict[str, Any] = {
            "counterparty": counterparty,
            "signer": _person(rng),
            "agreement": agreement,
            "owners": owners,
        }
        props: dict[str, Any] = {}
        for key, prob in CORE_PROPS.items():
            ptype = self.schema.prop_types.get(key)
            if ptype is None or rng.random() >= prob:
                continue
            if key == "agreementDate":
                props[key] = agreement.strftime("%Y-%m-%dT00:00:00Z")
            elif key == "effectiveDate":
                props[key] = _date(rng, agreement, 0, 30)
            elif key == "expirationDate":
                props[key] = _date(rng, agreement, 365, 365 * 3)
            else:
                props[key] = self.value_for(key, ptype, ctx)
        for key in self.other_keys:
            if rng.random() < OTHER_PROB:
                props[key] = self.value_for(key, self.schema.prop_types[key], ctx)
        num, ic = company.records.allocate_ic()
        rid = _uuid(rng)
        name = f"{kind} with {counterparty}"
        if source is None:
            r = rng.random()
            if r < 0.5:
                source = {"type": "workflow", "workflowId": f"{rng.getrandbits(96):024x}"}
            elif r < 0.8:
                source = {"type": "import_project", "importId": _uuid(rng)}
            else:
                source = {"type": "single_import"}
        rec = Record(
            id=rid,
            ironclad_id=ic,
            ic_num=num,
            type=rng.choices(self.types, weights=self.type_weights)[0],
            name=name,
            last_updated=iso_ms(ts_ms / 1000),
            last_updated_ts=ts_ms / 1000,
            properties=props,
            source=source,
            contract_status=self._status(props, agreement),
            agreement_ts=agreement_ts(props),
        )
        if rng.random() < opts.document_ratio:
            size = rng.randint(opts.min_document_bytes, max(opts.min_document_bytes, opts.max_document_bytes))
            fname = f"{agreement:%Y-%m-%d} - {counterparty} - {kind}.pdf".replace("/", "-")
            rec.attachments["signedCopy"] = Attachment(
                filename=fname,
                content_type="application/pdf",
                gen_key=f"{opts.seed}:{rid}:signedCopy",
                size=size,
                title=name,
            )
            if "fileAttachment" in self.schema.attachment_keys and rng.random() < 0.1:
                rec.attachments["fileAttachment"] = Attachment(
                    filename=f"{kind} - Exhibit A.pdf",
                    content_type="application/pdf",
                    gen_key=f"{opts.seed}:{rid}:fileAttachment",
                    size=min(size, 20_000),
                    title=f"Exhibit A to {name}",
                )
        return rec

    def _status(self, props: dict[str, Any], agreement: datetime) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        if r < 0.6:
            days = rng.randint(1, 700)
            event = ANCHOR + timedelta(days=days)
            status: dict[str, Any] = {"status": "active"}
            if props.get("standard_renewalType") == "Auto-Renew":
                status.update(
                    enhancedStatus="auto-renewing",
                    remainingDuration=f"P{days}D",
                    eventDate=event.strftime("%Y-%m-%dT00:00:00.000Z"),
                    message=f"Auto-renewing on {event:%b} {event.day}, {event:%Y}",
                )
            else:
                status.update(
                    enhancedStatus="expiring",
                    remainingDuration=f"P{days}D",
                    eventDate=event.strftime("%Y-%m-%dT00:00:00.000Z"),
                    message=f"Expiring on {event:%b} {event.day}, {event:%Y}",
                )
            return status
        if r < 0.8:
            return {"status": "expired"}
        if r < 0.9:
            return {"status": "terminated"}
        return {"status": "pending"}


def seed_company(state: SimulatorState, company: Company, opts: SeedOptions) -> int:
    """Add `opts.count` generated records to `company`. Same seed + same starting state ⇒ same records."""
    if opts.count <= 0:
        return 0
    rng = random.Random(opts.seed)
    factory = RecordFactory(state.schema, rng)
    start_ms = state.reserve_timestamps(opts.count) - round(opts.age_seconds * 1000)
    created: list[Record] = []
    store = company.records
    for i in range(opts.count):
        rec = factory.make(state, company, start_ms + i, opts)
        if created and rng.random() < opts.amendment_ratio:
            parent = created[rng.randrange(len(created))]
            if parent.parent_id is None:
                n = len(parent.amendments) + 1
                rec.name = f"Amendment No. {n} to {parent.name}"
                rec.type = parent.type
                rec.parent_id = parent.id
                rec.parent_link_type = "amendment"
                if "counterpartyName" in parent.properties:
                    rec.properties["counterpartyName"] = parent.properties["counterpartyName"]
                parent.child_ids.append(rec.id)
                parent.amendments.append(rec.ironclad_id)
        if rng.random() < 0.03 and created:
            rec.links.append(created[rng.randrange(len(created))].id)
        store.records[rec.id] = rec
        store.by_ic[rec.ironclad_id] = rec.id
        created.append(rec)
    store.version += 1
    return opts.count


def workflow_record(state: SimulatorState, company: Company, rng: random.Random, workflow_id: str) -> Record:
    """A record as produced by a completed workflow (fresh `lastUpdated`)."""
    factory = RecordFactory(state.schema, rng)
    _, tsf = state.next_timestamp()
    opts = SeedOptions(count=1, seed=rng.randint(0, 2**31), document_ratio=1.0)
    rec = factory.make(
        state, company, round(tsf * 1000), opts, source={"type": "workflow", "workflowId": workflow_id}
    )
    rec.properties["workflowId"] = workflow_id
    rec.contract_status = {"status": "active"}
    company.records.put(rec)
    return rec
