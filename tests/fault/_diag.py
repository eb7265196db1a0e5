async def diag(stack, db, run_id, sim, cid):
    from tests.fault.support import queue_state
    from contracts_common.messaging.topology import QUEUE_SUFFIXES
    out = []
    for s in QUEUE_SUFFIXES:
        for q in (f"{stack.prefix}.{s}", f"{stack.prefix}.{s}.dlq"):
            try:
                out.append((q, await queue_state(stack.amqp_url, q)))
            except Exception as e:
                out.append((q, repr(e)))
    done = await db.pages_done(run_id)
    st = await sim.stats()
    pages = st["companies"][cid]["pages_requested"]
    return f"queues={out}\nmissing={set(range(20))-done}\npages_requested={pages}"


async def probe_writes(db, run_id):
    import asyncio
    res = {}
    for coll, q in (("runs", {"_id": run_id}), ("contracts", {"_id": "nope"}), ("probe_x", {"_id": 1}), ("run_items", {"_id": "nope"})):
        try:
            await asyncio.wait_for(db.db[coll].update_one(q, {"$set": {"probe": 1}}, upsert=coll == "probe_x"), 5)
            res[coll] = "ok"
        except Exception as e:
            res[coll] = repr(e)
    try:
        await asyncio.wait_for(db.db.runs.find_one({"_id": run_id}), 5)
        res["read runs"] = "ok"
    except Exception as e:
        res["read runs"] = repr(e)
    return res


def spy(procs):
    import subprocess
    out = []
    for p in procs.started:
        if p.proc and p.proc.poll() is None:
            r = subprocess.run(["/tmp/spyvenv/bin/py-spy", "dump", "--pid", str(p.proc.pid)], capture_output=True, text=True)
            out.append(f"##### {p.name} {p.proc.pid}\n{r.stdout}{r.stderr}")
    open("/tmp/spy.txt", "w").write("\n".join(out))
