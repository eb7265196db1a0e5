"""The one definition of the Ironclad OAuth scopes we use.

It serves the admin API's scopes table, the token request and the check of what Ironclad granted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    scope: str
    purpose: str
    required: bool


SCOPES: tuple[Scope, ...] = (
    Scope("public.records.readRecords", "Fetch and display contracts (records) from Ironclad.", True),
    Scope("public.records.createRecords", "Create new records in Ironclad from Contracts AI.", True),
    Scope("public.records.updateRecords", "Update record metadata and fields in Ironclad.", True),
    Scope("public.records.readAttachments", "Download contract documents for analysis.", True),
    Scope("public.records.createAttachments", "Upload processed documents back to Ironclad.", True),
    Scope("public.records.readSchemas", "List record types and fields for field mapping.", True),
    Scope(
        "public.webhooks.createWebhooks",
        "Automatic Sync: register our webhook so new and changed contracts flow in.",
        False,
    ),
    Scope("public.webhooks.readWebhooks", "Automatic Sync: check that our webhook is still enabled.", False),
    Scope(
        "public.webhooks.deleteWebhooks",
        "Automatic Sync: remove our webhook on disable or disconnect.",
        False,
    ),
    Scope(
        "public.workflows.readWorkflows",
        "Automatic Sync: resolve a workflow event into the records it created.",
        False,
    ),
)

ALL_SCOPES: tuple[str, ...] = tuple(s.scope for s in SCOPES)
REQUIRED_SCOPES: frozenset[str] = frozenset(s.scope for s in SCOPES if s.required)
AUTOMATIC_SYNC_SCOPES: frozenset[str] = frozenset(s.scope for s in SCOPES if not s.required)

READ_RECORDS = "public.records.readRecords"
CREATE_RECORDS = "public.records.createRecords"
UPDATE_RECORDS = "public.records.updateRecords"
READ_ATTACHMENTS = "public.records.readAttachments"
CREATE_ATTACHMENTS = "public.records.createAttachments"
READ_SCHEMAS = "public.records.readSchemas"
READ_WORKFLOWS = "public.workflows.readWorkflows"


def missing_scopes(granted: set[str] | frozenset[str], wanted: frozenset[str] | None = None) -> list[str]:
    """Scopes of ours (or of `wanted`) that Ironclad did not grant, in table order."""
    pool = wanted if wanted is not None else frozenset(ALL_SCOPES)
    return [s for s in ALL_SCOPES if s in pool and s not in granted]
