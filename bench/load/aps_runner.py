#!/usr/bin/python3
"""APScheduler 3.9 side of the load driver: the same scenarios as kairosd, run by an
AsyncIOScheduler whose jobs start their process with asyncio subprocesses.

    aps_runner.py SCENARIO JSON_PARAMS

Prints "READY" on stdout once the scheduler runs, then one JSON line with the results when
the scenario ends (or on SIGTERM for the open-ended ones). Times are CLOCK_REALTIME ns.
"""
import asyncio
import json
import os
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if os.environ.get("KAIROS_BENCH_BALLAST_MIB"):
    # Same ballast as kairosd's KAIROS_BENCH_BALLAST_MIB: allocated and touched.
    _BALLAST = bytearray(b"\x01") * (int(os.environ["KAIROS_BENCH_BALLAST_MIB"]) << 20)

SCENARIO = sys.argv[1]
P = json.loads(sys.argv[2])
PROG = P.get("prog", "/bin/true")
records = []  # (index, spawn_begin_ns, spawn_end_ns)
done_ns = []  # when each run had finished (exit reaped, output read)
finished = 0


async def run_job(index):
    """One attempt, as kairosd does it: own process group, stdin /dev/null, output piped."""
    global finished
    t0 = time.time_ns()
    proc = await asyncio.create_subprocess_exec(
        PROG, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, process_group=0)
    records.append((index, t0, time.time_ns()))
    await proc.communicate()
    done_ns.append(time.time_ns())
    finished += 1


def ts(ns):
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sched = AsyncIOScheduler(timezone=timezone.utc, job_defaults={
        "misfire_grace_time": None, "coalesce": False, "max_instances": 1})
    out = {}
    if SCENARIO == "lateness":
        n, base_ns, period_s = P["n"], P["base_ns"], P.get("period_s", 1)
        for i in range(n):
            phase = base_ns + i * period_s * 1_000_000_000 // n
            sched.add_job(run_job, "interval", args=[i], seconds=period_s, start_date=ts(phase),
                          id=f"j{i}")
    elif SCENARIO == "burst":
        for i in range(P["n"]):
            sched.add_job(run_job, "date", args=[i], run_date=ts(P["at_ns"]), id=f"j{i}")
    elif SCENARIO == "throughput":
        for i in range(P["jobs"]):
            sched.add_job(run_job, "interval", args=[i], seconds=P["every_ms"] / 1000,
                          id=f"j{i}", max_instances=1000)
    elif SCENARIO == "idle":
        far = datetime(2099, 1, 1, tzinfo=timezone.utc)
        for i in range(P["n"]):
            sched.add_job(run_job, "interval", args=[i], days=1, start_date=far, id=f"j{i}")
    else:
        sys.exit(f"unknown scenario {SCENARIO}")
    sched.start()
    print("READY", flush=True)
    if SCENARIO == "burst":
        while len(records) < P["n"] and not stop.is_set():
            await asyncio.sleep(0.05)
        while finished < P["n"] and not stop.is_set():
            await asyncio.sleep(0.05)
    else:
        await stop.wait()
    sched.shutdown(wait=False)
    out["records"] = records
    out["finished"] = finished
    out["done_ns"] = done_ns
    print(json.dumps(out), flush=True)
    # Leave at once: asyncio.run's clean-up can wait forever on subprocess transports of
    # cancelled jobs after an overload (seen in the throughput scenario).
    os._exit(0)


asyncio.run(main())
