"""The change feed's pure rules: which change events are recorded and as what, and what a cursor reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from bson import ObjectId
from pydantic import ValidationError

from contracts_common.storage.changes import ChangeRow, Changes, CursorGone, after_cursor, read_page
from gateway.api.changes import ChangesQuery
from mapper.feed import classify, notices, observe

WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def event(kind: str, updated: dict[str, Any] | None = None, **full: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationType": kind,
        "documentKey": {"_id": ObjectId()},
        "wallTime": WHEN,
        "fullDocument": {"tenant": "acme", "ironclad": {"id": "r1"}, **full},
    }
    if updated is not None:
        out["updateDescription"] = {"updatedFields": updated}
    return out


def test_an_insert_is_created() -> None:
    assert classify(event("insert")) == "created"


def test_an_update_that_sets_deleted_is_a_deletion_whatever_the_document_says_now() -> None:
    assert classify(event("update", {"deleted": True})) == "deleted"
    # The looked-up document is the contract as it is at lookup time, not at this change: a later
    # deletion must not turn an earlier edit into a deletion, nor a revival stay deleted.
    assert classify(event("update", {"fields": {"a": 1}}, deleted=True)) == "updated"
    assert classify(event("update", {"deleted": False, "deleted_at": None})) == "updated"


def test_other_updates_and_replaces_are_updates() -> None:
    assert classify(event("update", {})) == "updated"  # the fields projected away by the pipeline
    assert classify(event("replace", deleted=False)) == "updated"
    assert classify(event("replace", deleted=True)) == "deleted"


def test_what_is_not_a_contract_change_is_not_recorded() -> None:
    for kind in ("drop", "invalidate", "rename", "delete"):
        assert classify({"operationType": kind}) is None
    gone = event("update", {"fields": {}})
    gone["fullDocument"] = None  # erased before the lookup
    assert observe(gone) is None


def test_an_observed_change_names_tenant_contract_and_ironclad_id() -> None:
    e = event("insert")
    seen = observe(e)
    assert seen is not None
    assert (seen.tenant, seen.contract_id, seen.ironclad_id, seen.action, seen.changed_at) == (
        "acme",
        str(e["documentKey"]["_id"]),
        "r1",
        "created",
        WHEN,
    )


def rows(*seqs: int, tenant: str = "acme", action: str = "updated") -> list[ChangeRow]:
    return [
        ChangeRow.model_validate(
            {
                "tenant": tenant,
                "seq": s,
                "contract_id": f"c{s}",
                "ironclad_id": f"r{s}",
                "action": action,
                "changed_at": WHEN,
                "expires_at": WHEN + timedelta(days=30),
            }
        )
        for s in seqs
    ]


def test_a_cursor_reads_what_follows_it() -> None:
    assert [r.seq for r in after_cursor(4, rows(4, 5, 6), limit=10, head=None)] == [5, 6]
    assert [r.seq for r in after_cursor(4, rows(4, 5, 6), limit=1, head=None)] == [5]
    # Its own row expired, the next one is there: nothing was missed.
    assert [r.seq for r in after_cursor(3, rows(4, 5), limit=10, head=None)] == [4, 5]
    assert [r.seq for r in after_cursor(0, rows(1, 2), limit=10, head=None)] == [1, 2]


def test_a_cursor_whose_next_rows_expired_is_gone() -> None:
    with pytest.raises(CursorGone, match="expired"):
        after_cursor(2, rows(4, 5), limit=10, head=None)
    with pytest.raises(CursorGone, match="expired"):
        after_cursor(0, rows(2, 3), limit=10, head=None)
    # Every row expired, but the head says there were changes after the cursor.
    with pytest.raises(CursorGone, match="expired"):
        after_cursor(3, [], limit=10, head=7)


def test_a_cursor_beyond_the_head_was_never_given_out() -> None:
    with pytest.raises(CursorGone, match="never given out"):
        after_cursor(8, [], limit=10, head=7)
    with pytest.raises(CursorGone, match="never given out"):
        after_cursor(1, [], limit=10, head=0)


def test_a_cursor_at_the_head_has_nothing_new() -> None:
    assert after_cursor(7, [], limit=10, head=7) == []
    assert after_cursor(0, [], limit=10, head=0) == []


@pytest.mark.parametrize("bad", ["", "-1", "01", "1.5", "abc", "1e3", "9" * 19])
def test_a_cursor_is_a_decimal_seq(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        ChangesQuery.model_validate({"cursor": bad})
    assert info.value.errors()[0]["loc"] == ("cursor",)


def test_limits() -> None:
    assert ChangesQuery.model_validate({}).limit == 100
    for bad in ("0", "1001"):
        with pytest.raises(ValidationError):
            ChangesQuery.model_validate({"limit": bad})


def test_one_notice_per_tenant_and_action_with_its_count_and_cursor_range() -> None:
    group = rows(3, 4, tenant="acme", action="created") + rows(5, tenant="acme", action="deleted")
    group += rows(9, 10, 11, tenant="beta", action="updated")
    found = {(n.tenant, n.action): n for n in notices(group)}
    assert set(found) == {("acme", "created"), ("acme", "deleted"), ("beta", "updated")}
    assert found[("acme", "created")].counts == {"created": 2}
    assert (found[("acme", "created")].cursor_from, found[("acme", "created")].cursor_to) == ("3", "4")
    assert (found[("beta", "updated")].cursor_from, found[("beta", "updated")].cursor_to) == ("9", "11")


class RowsAppearingBetweenReads:
    """The log as a reader sees it when the recorder appends between the reader's two reads: empty at
    the first read of the rows, rows 1..3 by the time the head is read."""

    def __init__(self) -> None:
        self.stored: list[ChangeRow] = []

    async def from_seq(self, tenant: str, first: int, limit: int) -> list[ChangeRow]:
        return [r for r in self.stored if r.seq >= first][:limit]

    async def head(self, tenant: str) -> int:
        self.stored = rows(1, 2, 3)  # appended just before the head is read
        return 3


@pytest.mark.parametrize("cursor", [None, 0])
async def test_rows_appended_between_the_reads_are_neither_skipped_nor_taken_for_expired(
    cursor: int | None,
) -> None:
    log = cast(Changes, RowsAppearingBetweenReads())
    items, next_cursor = await read_page(log, "acme", cursor, limit=10)
    assert [r.seq for r in items] == [1, 2, 3]
    assert next_cursor == 3
