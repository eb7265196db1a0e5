"""Records changed since a point in time, oldest first, read so that concurrent edits cannot hide one.

Ironclad pages by offset. Under edits an offset listing skips records: an edited record jumps to the end
of a `lastUpdated` order and every record behind it moves up a place, across page boundaries already
read. So this reads in ascending windows instead: every request is page 0 of "updated at or after the
newest timestamp seen so far". A record edited meanwhile reappears later in the same pass with its new
timestamp, and no window depends on an earlier one's offsets. Only when a whole page shares one
timestamp does the pass step on by offset within that timestamp.

Whether Ironclad's `lastUpdated` bound is inclusive is not documented, so each window starts a
millisecond early and records already yielded at the same timestamp are dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from contracts_common.ironclad import IroncladClient
from contracts_common.storage.contracts import parse_timestamp

ONE_MS = timedelta(milliseconds=1)


def ironclad_time(value: datetime) -> str:
    """The `lastUpdated` query format Ironclad documents: `2018-03-10T00:00:00.000Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


async def changed_since(
    client: IroncladClient, since: datetime, *, page_size: int = 100
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield lists of records updated at or after `since`, ascending by `lastUpdated`."""
    cursor = since
    offset_page = 0
    yielded: dict[str, datetime] = {}  # only entries at the cursor's timestamp can come back
    while True:
        listed = await client.list_records(
            page=offset_page,
            page_size=page_size,
            sort_direction="ASC",
            last_updated_since=ironclad_time(cursor - ONE_MS),
        )
        stamped = [(parse_timestamp(r["lastUpdated"]), r) for r in listed.records]
        unseen = [r for at, r in stamped if at >= cursor and yielded.get(r["id"]) != at]
        if unseen:
            yield unseen
        if len(listed.records) < page_size:
            return
        newest = max(at for at, _ in stamped)
        if newest > cursor:
            cursor, offset_page = newest, 0
        else:
            offset_page += 1
        yielded = {
            **{rid: at for rid, at in yielded.items() if at >= cursor},
            **{r["id"]: at for at, r in stamped if at >= cursor},
        }
