"""Change feed benchmark: `python -m bench.feed_bench [--records N] [--rounds R]`.

The same import (rate limits off, no documents: the database-bound case, where the recorder's load on
the server shows most) with the change feed off and on, alternated R times, as real child processes.
Reports records/s of each, the ratio (issue 23's target: the import keeps >= 95 % of its speed) and the
recorder's database commands (`service="mapper-feed"`) per stored batch. Results: bench/results/feed.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

from bench.common import log, save_json
from bench.import_bench import pipeline_import

PAGE = 100


async def main_async(records: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for round_ in range(rounds):
        for mode in ("off", "on"):
            env = {"CHANGE_FEED_ENABLED": "false" if mode == "off" else "true"}
            result = await pipeline_import(
                records, document_ratio=0.0, label=f"feed {mode} #{round_ + 1}", shared_env=env
            )
            runs[mode].append(result)
    speed = {mode: statistics.median(r["records_per_second"] for r in rs) for mode, rs in runs.items()}
    batches = records / PAGE
    feed = [r["db_commands"].get("mapper-feed", {}) for r in runs["on"]]
    data = {
        "records": records,
        "rounds": rounds,
        "records_per_second": {mode: [r["records_per_second"] for r in rs] for mode, rs in runs.items()},
        "median_records_per_second": speed,
        "ratio_on_vs_off": round(speed["on"] / speed["off"], 3),
        "stored_batches": batches,
        "feed_commands": feed,
        "feed_commands_per_batch": [
            {command: round(n / batches, 2) for command, n in commands.items()} for commands in feed
        ],
        "mapper_round_trips_per_record": {
            mode: [r["db_round_trips"].get("mapper", 0) / records for r in rs] for mode, rs in runs.items()
        },
    }
    log(f"feed: {data['median_records_per_second']} ratio {data['ratio_on_vs_off']}")
    log(f"feed commands per stored batch: {data['feed_commands_per_batch']}")
    return data


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.feed_bench", description=__doc__)
    p.add_argument("--records", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    data = asyncio.run(main_async(args.records, args.rounds))
    print(save_json("feed.json", data))


if __name__ == "__main__":
    main()
