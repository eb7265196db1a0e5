"""The records schema (a real tenant's `/records/metadata`), scopes, webhook events and attachment rules."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

RECORDS_SCOPES = [
    "public.records.readRecords",
    "public.records.createRecords",
    "public.records.updateRecords",
    "public.records.deleteRecords",
    "public.records.readSchemas",
    "public.records.readAttachments",
    "public.records.createAttachments",
    "public.records.deleteAttachments",
    "public.records.createSmartImportRecords",
    "public.records.readSmartImportRecords",
    "public.records.applyContractAction",
    "public.records.createComments",
]
WEBHOOKS_SCOPES = [
    "public.webhooks.createWebhooks",
    "public.webhooks.readWebhooks",
    "public.webhooks.updateWebhooks",
    "public.webhooks.deleteWebhooks",
]
WORKFLOWS_SCOPES = [
    "public.workflows." + s
    for s in [
        "createWorkflows",
        "readWorkflows",
        "updateWorkflows",
        "readApprovals",
        "updateApprovals",
        "readSignatures",
        "uploadSignedDocuments",
        "readParticipants",
        "readRoleAssignees",
        "updateRoleAssignment",
        "revertToReview",
        "cancel",
        "pauseAndResume",
        "createComments",
        "readComments",
        "createDocuments",
        "readDocuments",
        "updateSignaturePacket",
        "readSchemas",
        "readTurnHistory",
        "readEmailCommunications",
        "createSignatureRecipientUrls",
        "createEmbeddableSignerUrls",
        "sendSignatureRequests",
        "cancelSignatureRequests",
        "deleteSigners",
        "remindSigners",
        "updateSigners",
        "scheduleSendSignatureRequest",
        "updateScheduledSignatureRequest",
        "deleteScheduledSignatureRequest",
    ]
]
DEFAULT_SCOPES = RECORDS_SCOPES + WEBHOOKS_SCOPES + WORKFLOWS_SCOPES

WEBHOOK_EVENTS = [
    "*",
    "workflow_launched",
    "workflow_updated",
    "workflow_cancelled",
    "workflow_completed",
    "workflow_approval_status_changed",
    "workflow_attribute_updated",
    "workflow_comment_added",
    "workflow_comment_removed",
    "workflow_comment_updated",
    "workflow_comment_reaction_added",
    "workflow_comment_reaction_removed",
    "workflow_counterparty_invite_sent",
    "workflow_counterparty_invite_revoked",
    "workflow_documents_added",
    "workflow_documents_removed",
    "workflow_documents_updated",
    "workflow_documents_renamed",
    "workflow_document_edited",
    "workflow_changed_turn",
    "workflow_paused",
    "workflow_resumed",
    "workflow_signature_packet_cancelled",
    "workflow_signature_packet_document_moved",
    "workflow_signature_packet_fully_signed",
    "workflow_signature_packet_sent",
    "workflow_signature_packet_signatures_collected",
    "workflow_signature_packet_signer_first_viewed",
    "workflow_signature_packet_signer_viewed",
    "workflow_signature_packet_uploaded",
    "workflow_signer_added",
    "workflow_signer_removed",
    "workflow_signer_reassigned",
    "workflow_step_updated",
    "workflow_roles_assigned",
    "record_contract_status_changed",
    "obligation_created",
    "obligation_status_changed",
    "obligation_due_date_changed",
    "obligation_assignee_changed",
    "obligation_updated",
    "obligations_extraction_completed",
]

# Upload whitelist, verbatim from the error message in SPEC (including the duplicated `.tif`).
ALLOWED_EXTENSIONS_MESSAGE = (
    ".adoc, .asice, .bdoc, .csv, .ddoc, .doc, .docx, .edoc, .eml, .gif, .htm, .jpeg, .jpg, .msg, .pdf, "
    ".png, .ppt, .pptx, .rtf, .tif, .tif, .txt, .xls, .xlsx, .xml"
)
CONTENT_TYPES = {
    ".adoc": "text/asciidoc",
    ".asice": "application/vnd.etsi.asic-e+zip",
    ".bdoc": "application/vnd.etsi.asic-e+zip",
    ".csv": "text/csv",
    ".ddoc": "application/x-ddoc",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".edoc": "application/vnd.etsi.asic-e+zip",
    ".eml": "message/rfc822",
    ".gif": "image/gif",
    ".htm": "text/html",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".msg": "application/vnd.ms-outlook",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".rtf": "application/rtf",
    ".tif": "image/tiff",
    ".txt": "text/plain",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xml": "application/xml",
}
ALLOWED_EXTENSIONS = frozenset(CONTENT_TYPES)

# Property types a client may write through `properties` (documents go through the attachments API).
WRITABLE_TYPES = frozenset(
    {
        "string",
        "number",
        "boolean",
        "date",
        "duration",
        "email",
        "monetary_amount",
        "address",
        "array",
        "reference",
        "clause",
        "playbookClause",
    }
)


@cache
def _load_metadata() -> dict[str, Any]:
    text = resources.files("ironclad_simulator").joinpath("data/records_metadata.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def records_metadata() -> dict[str, Any]:
    """A deep copy of the shipped records schema (`GET /records/metadata` body)."""
    return copy.deepcopy(_load_metadata())


class RecordsSchema:
    """Lookups over a records schema document."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata if metadata is not None else _load_metadata()
        self.properties: dict[str, dict[str, Any]] = self.metadata["properties"]
        self.record_types: dict[str, dict[str, Any]] = self.metadata["recordTypes"]
        self.prop_types: dict[str, str] = {k: v["type"] for k, v in self.properties.items()}
        # Attachment keys: `document` properties (live) plus SPEC's `attachments` section, if any.
        self.attachment_keys: set[str] = {k for k, t in self.prop_types.items() if t == "document"}
        self.attachment_keys.update(self.metadata.get("attachments") or {})
        self.enum_options: dict[str, list[str]] = {}
        for key, prop in self.properties.items():
            ict = prop.get("ironcladType") or {}
            if ict.get("typeName") == "enum":
                self.enum_options[key] = [o["value"] for o in ict.get("options", []) if not o.get("hidden")]

    def body_bytes(self) -> bytes:
        return json.dumps(self.metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@cache
def default_schema() -> RecordsSchema:
    return RecordsSchema()


@cache
def workflow_template() -> dict[str, Any]:
    text = resources.files("ironclad_simulator").joinpath("data/workflow_template.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
