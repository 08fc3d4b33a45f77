#!/usr/bin/python3
"""End-to-end load driver: the real kairosd against a bare posix_spawn loop and APScheduler 3.9,
side by side on one machine. Python 3 standard library only. See bench/load/README.md.

    kairos_load.py --build DIR [--scale full|smoke] [--aps on|off|auto] [--json FILE] [--only S,S]
    kairos_load.py --compare BUILD_A BUILD_B [--build DIR] [--scale full|smoke] ...

Every figure comes from kairosd's history database, the bench daemon's spawn trace
(KAIROS_BENCH_SPAWN_TRACE, CLOCK_REALTIME ns) and /proc/PID of the process under test.
"""
import argparse
import errno
import json
import grp
import math
import os
import signal
import socket
import struct
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")

SCALES = {
    #        lateness jobs/secs, burst, throughput jobs/secs, rss jobs, ballast, idle jobs/secs,
    #        how long an overloaded APScheduler gets to answer SIGTERM before it counts as stuck
    "full": dict(late_n=1000, late_light_n=50, late_s=12, burst_n=1000, rounds=3, tp_jobs=64, tp_s=10, rss_small=10,
                 rss_big=10000, ballast_mib=256, idle_n=10000, idle_s=60, aps_stuck_s=60),
    "smoke": dict(late_n=20, late_light_n=5, late_s=3, burst_n=20, rounds=1, tp_jobs=64, tp_s=1, rss_small=10,
                  rss_big=200, ballast_mib=16, idle_n=200, idle_s=1, aps_stuck_s=10),
}


# --- /proc ---------------------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of the process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_value(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def private_kib(pid):
    """Private_Clean + Private_Dirty: RSS minus the shared library pages other processes share."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def voluntary_switches(pid):
    """Sum over every thread: a helper thread waking up counts too."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))
    return v[k]


# --- kairosd -------------------------------------------------------------------------------

def daemon_exe(build):
    """The daemon to run from a build: kairosd_bench (the shipped daemon code plus the bench
    hooks) when the build has one, else its kairosd, which then reads the hooks itself
    (builds from before the hooks left kairosd)."""
    exe = os.path.join(build, "bench", "load", "kairosd_bench")
    return exe if os.path.exists(exe) else os.path.join(build, "daemon", "kairosd")


class Kairosd:
    """A kairos daemon on a private state dir; start() waits for its "started" log line."""

    def __init__(self, exe, workdir, env=None):
        self.exe = exe
        self.dir = workdir
        self.trace = os.path.join(workdir, "spawn.trace")
        self.log = os.path.join(workdir, "kairosd.log")
        self.db = os.path.join(workdir, "history.db")
        self.env = dict(os.environ, KAIROS_BENCH_SPAWN_TRACE=self.trace, **(env or {}))
        self.proc = None

    def write_config(self, jobs_yaml, max_concurrent=32):
        path = os.path.join(self.dir, "kairos.yaml")
        with open(path, "w") as f:
            f.write("version: 1\n")
            # An installed kairosd finds its socket group in /etc/group (the package creates
            # it). Without one, glibc would load libnss_systemd (0.3 MiB) to look further.
            group = grp.getgrgid(os.getgid()).gr_name
            f.write(f"daemon: {{max_concurrent_runs: {max_concurrent}, include: [], "
                    f"socket_group: {group}, history: {{keep_per_job: 0, keep_for: 0}}}}\n")
            f.write("defaults: {timeout: 0}\njobs:\n")
            f.write(jobs_yaml)
        return path

    def start(self, timeout=120):
        cfg = os.path.join(self.dir, "kairos.yaml")
        logf = open(self.log, "w")
        self.proc = subprocess.Popen([self.exe, "--config", cfg, "--state-dir", self.dir],
                                     stderr=logf, stdout=logf, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kairosd exited: {open(self.log).read()[-2000:]}")
            with open(self.log) as f:
                if " started: " in f.read():
                    return self.proc.pid
            time.sleep(0.02)
        raise RuntimeError("kairosd did not start in time")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def spawns(self):
        """[(run, attempt, scheduled_at_ms, spawn_begin_ns, spawn_end_ns)]. kairosd_bench
        writes scheduled_at_ms as -1 (the job's environment has it only to the second): it
        comes from the history instead, which has it exactly."""
        if not os.path.exists(self.trace):
            return []
        with open(self.trace) as f:
            rows = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
        if any(r[2] < 0 for r in rows):
            due = dict(self.query("SELECT id, scheduled_at FROM runs"))
            rows = [r if r[2] >= 0 else (r[0], r[1], due.get(r[0]) or -1) + r[3:] for r in rows]
        return rows

    def query(self, sql, args=()):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


def job_lines(n, schedule, command, extra=""):
    return "".join(f"  j{i:05d}: {{command: [{command}], schedule: {schedule}{extra}}}\n"
                   for i in range(n))


# --- APScheduler ---------------------------------------------------------------------------

class Aps:
    def __init__(self, scenario, params, env=None):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "aps_runner.py"), scenario,
             json.dumps(params)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, **(env or {})))
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"aps_runner did not start: {line!r}")
        self.pid = self.proc.pid

    def result(self, stop=True, timeout=300):
        """The runner's JSON. An overloaded APScheduler can take minutes to notice SIGTERM
        (its loop works through a backlog first); after `timeout` it is killed and reported
        as stuck with no records."""
        if stop:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return {"records": [], "done_ns": [], "finished": 0, "stuck": True}
        return json.loads(out.strip().splitlines()[-1])


def aps_available():
    return subprocess.run(["/usr/bin/python3", "-c", "import apscheduler"],
                          capture_output=True).returncode == 0


# --- exec events ---------------------------------------------------------------------------

class ExecWatch:
    """When each child of a process began running its program, from the kernel's process
    connector (needs root): the same instant for every contender, whether its spawn call
    returns before execve (kairosd) or after it (posix_spawn). None when unavailable."""
    FORK, EXEC = 1, 2

    def __init__(self):
        self.events, self.sock, self.overflowed = [], None, False
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 11)  # NETLINK_CONNECTOR
            s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: bursts of 1,000
            s.bind((0, 1))  # CN_IDX_PROC
            listen = struct.pack("I", 1)  # PROC_CN_MCAST_LISTEN
            cn = struct.pack("IIIIHH", 1, 1, 0, 0, len(listen), 0) + listen
            s.send(struct.pack("IHHII", 16 + len(cn), 3, 0, 0, 0) + cn)  # NLMSG_DONE
            s.settimeout(0.2)
            self.sock = s
        except OSError:
            return
        self.stopping = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stopping:
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # events were dropped: the set is incomplete
                    self.overflowed = True
                    continue
                break
            off = 0
            while off + 16 <= len(data):
                length = struct.unpack_from("I", data, off)[0]
                if length < 16:
                    break
                if length >= 16 + 20 + 24:
                    what, _, ts = struct.unpack_from("IIQ", data, off + 36)
                    if what in (self.FORK, self.EXEC):
                        self.events.append((what, ts) + struct.unpack_from("iiii", data, off + 52))
                off += (length + 3) & ~3

    def stop(self):
        if self.sock:
            time.sleep(0.3)  # the last events are in flight
            self.stopping = True
            self.thread.join()
            self.sock.close()

    def children_execs(self, parent):
        """[(fork_ns, exec_ns)] (CLOCK_MONOTONIC) of the children `parent` made; [] when
        the kernel dropped events."""
        if self.overflowed:
            return []
        forks = {e[4]: e[1] for e in self.events if e[0] == self.FORK and e[3] == parent}
        first = {}
        for e in self.events:
            if e[0] == self.EXEC and e[2] in forks and e[2] not in first:
                first[e[2]] = e[1]
        return [(forks[p], first[p]) for p in first]


def mono_to_wall_ns():
    return time.time_ns() - time.monotonic_ns()


# --- scenarios -----------------------------------------------------------------------------

def bare(build, mode, *args, env=None, recipe="kairos"):
    """The bare spawn loop: recipe "kairos" is kairosd's own spawn code (async::Spawner),
    "posix" glibc's posix_spawn; both set the child up the same way."""
    exe = os.path.join(build, "bench", "load", "kairos_bare_spawn")
    watch = ExecWatch() if mode == "burst" else None
    proc = subprocess.Popen([exe, f"--recipe={recipe}", mode, *map(str, args)],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{exe} {mode} failed: {proc.returncode}")
    res = json.loads(out)
    if watch:
        watch.stop()
        execs = watch.children_execs(proc.pid)
        if len(execs) == int(args[0]):  # all seen: from the first fork to the last execve
            res["exec_s"] = (max(e for _, e in execs) - min(f for f, _ in execs)) / 1e9
            res["execs"] = len(execs)
    return res


def lateness_stats(lat_ms):
    return {"n": len(lat_ms), "p50_ms": pct(lat_ms, 50), "p99_ms": pct(lat_ms, 99),
            "max_ms": max(lat_ms) if lat_ms else float("nan")}


def scenario_lateness(a, S, tmp, job, n=None, period_s=1):
    """N `every: Ps` jobs, phases spread evenly over the period; lateness = spawn start − due.
    Run at the issue's N=1000, P=1 (1000 spawns/s: capacity-bound on a small or busy
    machine), at N=1000, P=5 (the same 1000 timers at a spawn rate the machine sustains),
    and at a light N that every machine sustains, which isolates the timer and spawn path."""
    n = n or S["late_n"]
    res = {"n": n, "period_s": period_s}
    runs = {name: [] for name in a.daemons}
    for _ in range(a.rounds):
        for name, exe in a.daemons.items():
            runs[name].append(kairos_lateness(S, tmp, exe, job, n, period_s))
    res.update({name: median_fields(r) for name, r in runs.items()})
    if not a.skip_aps:
        res["aps"] = aps_lateness(S, job, n, period_s)
    return res


def kairos_lateness(S, tmp, exe, job, n, period_s):
    secs = S["late_s"]
    k = Kairosd(exe, tempfile.mkdtemp(dir=tmp, prefix="late-"))
    # The phase of an `every` job is its anchor, kept in job_state. Create the jobs once
    # (far interval, nothing fires), then spread the anchors over one second.
    k.write_config(job_lines(n, "{every: 1d}", job), max_concurrent=max(32, n))
    k.start()
    k.stop()
    base_ms = (int(time.time()) - 10) * 1000
    con = sqlite3.connect(k.db)
    for i in range(n):
        con.execute("UPDATE job_state SET anchor = ?, last_fired = NULL WHERE job = ?",
                    (base_ms + i * period_s * 1000 // n, f"j{i:05d}"))
    con.execute("DELETE FROM runs")
    con.commit()
    con.close()
    k.write_config(job_lines(n, f"{{every: {period_s}s}}", job,
                             ", concurrency: allow, max_instances: 2"),
                   max_concurrent=max(32, n))
    t_start = time.time()
    pid = k.start()
    time.sleep(max(0.0, t_start + 2 - time.time()))
    t_warm, c_warm = time.time(), cpu_seconds(pid)
    time.sleep(max(0.5, t_start + secs - time.time()))
    c0 = cpu_seconds(pid)
    t_stop = time.time()
    k.stop()
    warm_ms = (t_start + 2) * 1000  # skip the first firings after start-up
    traced = [(s, b, e) for (_, att, s, b, e) in k.spawns() if att == 1 and s >= warm_ms]
    # CPU per run with every firing its own (no burst shares a wake-up or a commit).
    in_cpu_window = sum(1 for (s, b, e) in traced if t_warm * 1000 <= s < t_stop * 1000)
    res = lateness_stats([b / 1e6 - s for (s, b, e) in traced])
    # How long the loop stood in the spawn call (it does not wait for the child's execve).
    call_us = [(e - b) / 1e3 for (s, b, e) in traced]
    res["spawn_call_p50_us"] = pct(call_us, 50)
    res["spawn_call_p99_us"] = pct(call_us, 99)
    rows = k.query("SELECT count(*), sum(started_at - scheduled_at) FROM runs "
                   "WHERE trigger='schedule' AND status='succeeded' AND scheduled_at >= ?",
                   (warm_ms,))[0]
    res["history_rows"] = rows[0]
    res["expected"] = int(n * (t_stop - t_start - 2) / period_s)
    res["cpu_s"] = c0
    res["cpu_us_per_run"] = (c0 - c_warm) / max(1, in_cpu_window) * 1e6
    return res


def aps_lateness(S, job, n, period_s):
    secs = S["late_s"]
    base_ns = (int(time.time()) - 10) * 1_000_000_000
    ap = Aps("lateness", {"n": n, "base_ns": base_ns, "prog": job, "period_s": period_s})
    t0 = time.time_ns()
    time.sleep(2)
    tw, cw = time.time_ns(), cpu_seconds(ap.pid)
    time.sleep(max(0.5, secs - 2))
    t_stop, c1 = time.time_ns(), cpu_seconds(ap.pid)
    r = ap.result(timeout=S["aps_stuck_s"])
    lat = []
    aps_in_window = sum(1 for (i, b, e) in r["records"] if tw <= b < t_stop)
    for (i, b, e) in r["records"]:
        if b < t0 + 2_000_000_000:
            continue
        period_ns = period_s * 1_000_000_000
        phase = base_ns + i * period_ns // n
        lat.append(((b - phase) % period_ns) / 1e6)  # due = latest phase ≤ b
    res = lateness_stats(lat)
    res["stuck"] = r.get("stuck", False)
    res["expected"] = int(n * ((t_stop - t0) / 1e9 - 2) / period_s)
    res["cpu_us_per_run"] = (c1 - cw) / max(1, aps_in_window) * 1e6
    return res


def kairos_burst(exe, tmp, n, env=None):
    k = Kairosd(exe, tempfile.mkdtemp(dir=tmp, prefix="burst-"), env=env)
    at = int(time.time()) + 4 + n // 250
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    k.write_config(job_lines(n, f'{{at: "{stamp}"}}', "/bin/true"), max_concurrent=n + 1)
    pid = k.start()
    rss = status_value(pid, "VmRSS")
    watch = ExecWatch()
    deadline = time.time() + 120 + n / 10
    while time.time() < deadline and (time.time() < at or len(k.query(
            "SELECT id FROM runs WHERE status IN ('queued','running')")) > 0):
        time.sleep(0.1)
    watch.stop()
    k.stop()
    spawns = k.spawns()
    ends = [e for (_, _, _, _, e) in spawns]
    last = (max(ends) / 1e9 - at) if ends else float("nan")
    res = {"n": len(spawns), "spawned_s": last, "last_started_s": last,
           "per_second": len(spawns) / last, "rss_kib": rss}
    return with_execs(res, watch, pid, at * 1_000_000_000)


def with_execs(res, watch, pid, due_wall_ns):
    """Makes "last started" the last execve of the contender's children, when known."""
    execs = watch.children_execs(pid)
    if execs and len(execs) == res["n"]:
        res["execs"] = len(execs)
        res["last_started_s"] = (max(e for _, e in execs) + mono_to_wall_ns() - due_wall_ns) / 1e9
        res["per_second"] = len(execs) / res["last_started_s"]
    return res


def aps_burst(n, env=None):
    at_ns = (int(time.time()) + 4 + n // 250) * 1_000_000_000
    watch = ExecWatch()
    ap = Aps("burst", {"n": n, "at_ns": at_ns, "prog": "/bin/true"}, env=env)
    rss = status_value(ap.pid, "VmRSS")
    r = ap.result(stop=False)
    watch.stop()
    ends = [e for (_, _, e) in r["records"]]
    last = (max(ends) - at_ns) / 1e9 if ends else float("nan")
    res = {"n": len(ends), "spawned_s": last, "last_started_s": last,
           "per_second": len(ends) / last, "rss_kib": rss}
    return with_execs(res, watch, ap.pid, at_ns)


def median_fields(results):
    """One result from the rounds: the median of each number (the upper one of an even
    count), the first round's value for anything else."""
    if len(results) == 1:
        return results[0]
    out = {}
    for key, first in results[0].items():
        vals = [r.get(key) for r in results]
        nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        out[key] = sorted(vals)[len(vals) // 2] if nums else first
    return out


def median_round(results):
    """The round with the median time: on a shared machine one round can be hit by a
    neighbour's compile; the rounds interleave bare, kairos and APScheduler."""
    results = sorted(results, key=lambda r: r["last_started_s"])
    out = dict(results[len(results) // 2])
    out["rounds_s"] = [round(r["last_started_s"], 4) for r in results]
    return out


def bursts(a, S, tmp, env=None):
    n = S["burst_n"]
    runs = {"bare": [], "bare_posix": [], **{name: [] for name in a.daemons}, "aps": []}
    for _ in range(a.burst_rounds):
        for name, recipe in (("bare", "kairos"), ("bare_posix", "posix")):
            b = bare(a.build, "burst", n, env=env, recipe=recipe)
            b["spawned_s"] = b["seconds"]
            b["last_started_s"] = b.get("exec_s", b["seconds"])
            runs[name].append(b)
        for name, exe in a.daemons.items():
            runs[name].append(kairos_burst(exe, tmp, n, env=env))
        if not a.skip_aps:
            runs["aps"].append(aps_burst(n, env=env))
    return {w: median_round(r) for w, r in runs.items() if r}


def scenario_burst(a, S, tmp):
    """N one-shot jobs due at the same instant running /bin/true: time until the last started."""
    return bursts(a, S, tmp)


def scenario_ballast(a, S, tmp):
    """The burst again with the scheduler's RSS inflated: spawn rate must not depend on RSS."""
    mib = S["ballast_mib"]
    res = bursts(a, S, tmp, env={"KAIROS_BENCH_BALLAST_MIB": str(mib)})
    res["mib"] = mib
    return res


def scenario_throughput(a, S, tmp, job):
    """J jobs offered ~1.3x the bare spawn+reap rate; runs/s completed with history recorded,
    and daemon CPU per run over the same window."""
    jobs, secs = S["tp_jobs"], S["tp_s"]
    runs = {"bare": [], "bare_posix": [], **{name: [] for name in a.daemons}}
    every_ms = None
    for _ in range(a.rounds):
        for name, recipe in (("bare", "kairos"), ("bare_posix", "posix")):
            runs[name].append(bare(a.build, "rate", max(200, int(secs * 100)), 32, job,
                                   recipe=recipe))
        if every_ms is None:  # the first round's bare rate sets the offer for every round
            offered = 1.3 * max(runs["bare"][0]["per_second"], runs["bare_posix"][0]["per_second"])
            every_ms = max(10, int(jobs * 1000 / offered))
        for name, exe in a.daemons.items():
            runs[name].append(kairos_throughput(exe, tmp, job, jobs, secs, every_ms))
    res = {name: median_fields(r) for name, r in runs.items()}
    res.update({"jobs": jobs, "every_ms": every_ms, "offered_per_s": jobs * 1000 / every_ms})
    if not a.skip_aps:
        res["aps"] = aps_throughput(S, job, jobs, secs, every_ms)
    return res


def kairos_throughput(exe, tmp, job, jobs, secs, every_ms):
    k = Kairosd(exe, tempfile.mkdtemp(dir=tmp, prefix="tp-"))
    # allow + many instances: a firing never has to wait for its own job's previous run, so
    # the global limit of 32 (the bare loop's concurrency) is the only cap, as in the bare loop.
    k.write_config(job_lines(jobs, f"{{every: {every_ms}ms}}", job,
                             ", concurrency: allow, max_instances: 1000"), max_concurrent=32)
    pid = k.start()
    time.sleep(1.5)  # warm-up
    t0, c0 = time.time(), cpu_seconds(pid)
    time.sleep(secs)
    t1, c1 = time.time(), cpu_seconds(pid)
    k.stop()
    done = k.query("SELECT count(*) FROM runs WHERE status='succeeded' AND finished_at >= ? "
                   "AND finished_at < ?", (int(t0 * 1000), int(t1 * 1000)))[0][0]
    skipped = k.query("SELECT count(*) FROM runs WHERE status='skipped' AND finished_at >= ? "
                      "AND finished_at < ?", (int(t0 * 1000), int(t1 * 1000)))[0][0]
    return {"runs": done, "per_second": done / (t1 - t0), "skipped": skipped,
            "cpu_us_per_run": (c1 - c0) / max(1, done) * 1e6, "cpu_share": (c1 - c0) / (t1 - t0)}


def aps_throughput(S, job, jobs, secs, every_ms):
    ap = Aps("throughput", {"jobs": jobs, "every_ms": every_ms, "prog": job})
    time.sleep(1.5)
    t0n, c0 = time.time_ns(), cpu_seconds(ap.pid)
    time.sleep(secs)
    t1n, c1 = time.time_ns(), cpu_seconds(ap.pid)
    r = ap.result(timeout=S["aps_stuck_s"])
    done = sum(1 for d in r["done_ns"] if t0n <= d < t1n)
    return {"runs": done, "per_second": done / ((t1n - t0n) / 1e9),
            "cpu_us_per_run": (c1 - c0) / max(1, done) * 1e6,
            "cpu_share": (c1 - c0) / ((t1n - t0n) / 1e9), "stuck": r.get("stuck", False)}


def scenario_rest(a, S, tmp):
    """RSS at rest with few and many far-future jobs; idle voluntary context switches of the
    big one over idle_s (every daemon and APScheduler idle side by side: it costs the time
    once). Once, not in rounds: these are counts, not timings."""
    res = {"rss_small_kib": {}, "private_small_kib": {}, "jobs_small": S["rss_small"],
           "jobs_big": S["rss_big"]}
    far = "{cron: \"0 0 1 1 *\"}"
    for name, exe in a.daemons.items():
        small = Kairosd(exe, tempfile.mkdtemp(dir=tmp, prefix="rest10-"))
        small.write_config(job_lines(S["rss_small"], far, "/bin/true"))
        pid = small.start()
        time.sleep(1)
        res["rss_small_kib"][name] = status_value(pid, "VmRSS")
        res["private_small_kib"][name] = private_kib(pid)
        small.stop()
    bigs, procs = [], {}
    for name, exe in a.daemons.items():
        big = Kairosd(exe, tempfile.mkdtemp(dir=tmp, prefix="rest-big-"))
        big.write_config(job_lines(S["rss_big"], far, "/bin/true"))
        procs[name] = big.start()
        bigs.append(big)
    apbig = None
    if not a.skip_aps:
        apsmall = Aps("idle", {"n": S["rss_small"]})
        time.sleep(1)
        res["rss_small_kib"]["aps"] = status_value(apsmall.pid, "VmRSS")
        res["private_small_kib"]["aps"] = private_kib(apsmall.pid)
        apsmall.result()
        apbig = Aps("idle", {"n": S["rss_big"]})
        procs["aps"] = apbig.pid
    time.sleep(2)  # settle: start-up writes and log flushes are not "idle"
    res["rss_big_kib"] = {name: status_value(p, "VmRSS") for name, p in procs.items()}
    res["private_big_kib"] = {name: private_kib(p) for name, p in procs.items()}
    res["hwm_big_kib"] = {name: status_value(p, "VmHWM") for name, p in procs.items()}
    v0 = {name: voluntary_switches(p) for name, p in procs.items()}
    time.sleep(S["idle_s"])
    res["idle_switches"] = {name: voluntary_switches(p) - v0[name] for name, p in procs.items()}
    res["idle_s"] = S["idle_s"]
    for big in bigs:
        big.stop()
    if apbig:
        apbig.result()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", help="CMake build dir with the daemon and bench/load (with "
                    "--compare: where the bare loop and the job come from; default BUILD_B)")
    ap.add_argument("--compare", nargs=2, metavar=("BUILD_A", "BUILD_B"),
                    help="run the daemons of two builds (A before, B after) in alternation, "
                    "each against the same bare loop, and print them side by side")
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--rounds", type=int, help="rounds per scenario (default: the scale's for "
                    "the bursts, 1 for the rest; with --compare the scale's for every scenario)")
    ap.add_argument("--aps", choices=["on", "off", "auto"],
                    help="also run APScheduler (auto: only if python3-apscheduler is installed; "
                    "default on, off with --compare)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every figure is present and sane (the ctest smoke test)")
    ap.add_argument("--only",
                    default="lateness_light,lateness,lateness_5s,burst,ballast,throughput,rest")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    if not a.build and not a.compare:
        ap.error("--build or --compare is required")
    S = SCALES[a.scale]
    if a.compare:
        builds = [os.path.abspath(b) for b in a.compare]
        a.daemons = {"A": daemon_exe(builds[0]), "B": daemon_exe(builds[1])}
        a.build = os.path.abspath(a.build or builds[1])
        a.rounds = a.burst_rounds = a.rounds or S["rounds"]
        a.aps = a.aps or "off"
    else:
        a.build = os.path.abspath(a.build)
        a.daemons = {"kairos": daemon_exe(a.build)}
        a.burst_rounds = a.rounds or S["rounds"]
        a.rounds = a.rounds or 1
        a.aps = a.aps or "on"
    for exe in a.daemons.values():
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe}: no such program (build the kairosd_bench target)")
    a.skip_aps = a.aps == "off" or (a.aps == "auto" and not aps_available())
    if not a.skip_aps and not aps_available():
        sys.exit("APScheduler is missing: apt-get install -y python3-apscheduler (or --aps off)")
    job = os.path.join(a.build, "bench", "load", "kairos_bench_job")
    out = {"scale": a.scale, "daemons": a.daemons, "rounds": a.rounds, "machine": {
        "nproc": os.cpu_count(), "kernel": os.uname().release,
        "loadavg_start": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory(prefix="kairos-load-") as tmp:
        for name in a.only.split(","):
            t0 = time.time()
            if name == "lateness":
                out[name] = scenario_lateness(a, S, tmp, job)
            elif name == "lateness_light":
                out[name] = scenario_lateness(a, S, tmp, job, S["late_light_n"])
            elif name == "lateness_5s":
                out[name] = scenario_lateness(a, S, tmp, job, period_s=5)
            elif name == "burst":
                out[name] = scenario_burst(a, S, tmp)
            elif name == "ballast":
                out[name] = scenario_ballast(a, S, tmp)
            elif name == "throughput":
                out[name] = scenario_throughput(a, S, tmp, job)
            elif name == "rest":
                out[name] = scenario_rest(a, S, tmp)
            else:
                sys.exit(f"unknown scenario {name}")
            print(f"# {name} ({time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f}): "
                  f"{json.dumps(out[name])}", file=sys.stderr, flush=True)
    out["machine"]["loadavg_end"] = os.getloadavg()[0]
    if a.compare:
        report_compare(out, a.compare)
    else:
        report(out)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if a.check:
        problems = check(out, list(a.daemons), a.skip_aps)
        for p in problems:
            print(f"insane: {p}", file=sys.stderr)
        sys.exit(1 if problems else 0)


def check(o, daemons, skip_aps):
    """No timing assertions: only that every scenario ran and its numbers make sense."""
    bad = []
    ok = lambda v: isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
    want = lambda cond, what: None if cond else bad.append(what)
    who = daemons + ([] if skip_aps else ["aps"])
    for sc in ("lateness_light", "lateness", "lateness_5s"):
        if sc not in o:
            continue
        for w in who:
            L = o[sc][w]
            want(L["n"] >= L["expected"] // 2, f"lateness {w}: {L['n']} runs traced, "
                 f"~{L['expected']} expected")
            want(all(ok(L[p]) for p in ("p50_ms", "p99_ms", "max_ms")), f"lateness {w}: {L}")
            want(L["p50_ms"] <= L["p99_ms"] <= L["max_ms"], f"lateness {w} not ordered: {L}")
        for w in daemons:
            want(o[sc][w]["history_rows"] == o[sc][w]["n"],
                 f"{sc} {w}: spawn trace and history disagree")
    for sc in ("burst", "ballast"):
        if sc in o:
            for w in who + ["bare", "bare_posix"]:
                B = o[sc][w]
                n = B["n"]
                want(n == o[sc]["bare"]["n"] and ok(B["per_second"]) and B["per_second"] > 0,
                     f"{sc} {w}: {B}")
    if "throughput" in o:
        for w in who:
            T = o["throughput"][w]
            if T.get("stuck"):
                continue  # an overloaded APScheduler that never answers is a result: "stuck"
            want(T["runs"] > 0 and ok(T["per_second"]) and ok(T["cpu_us_per_run"]),
                 f"throughput {w}: {T}")
    if "rest" in o:
        R = o["rest"]
        for w in who:
            want(0 < R["rss_small_kib"][w] < 1 << 20 and 0 < R["rss_big_kib"][w] < 1 << 21,
                 f"rest {w}: RSS {R}")
            want(ok(R["idle_switches"][w]), f"rest {w}: switches {R}")
    return bad


def report(o):
    """The table of docs/PERFORMANCE.md: figure | kairos | APScheduler | bare limit | ratio."""
    rows = []

    def row(what, k, aps=None, bare=None, ratio="", target=""):
        f = lambda v: "—" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))
        rows.append(f"| {what} | {f(k)} | {f(aps)} | {f(bare)} | {ratio} | {target} |")

    g = lambda d, *ks: None if d is None else (d.get(ks[0]) if len(ks) == 1
                                              else g(d.get(ks[0]), *ks[1:]))
    for sc in ("lateness_light", "lateness", "lateness_5s"):
        if sc not in o:
            continue
        L = o[sc]
        every = f"every {L.get('period_s', 1)}s"
        for p in ("p50_ms", "p99_ms", "max_ms"):
            row(f"lateness {p[:-3]} (ms), {L['n']} × {every}", L["kairos"][p], g(L, "aps", p),
                target={"p50_ms": "≤ 0.2", "p99_ms": "≤ 1", "max_ms": ""}[p])
        row(f"runs started / firings due, {L['n']} × {every}",
            f"{L['kairos']['n']} / {L['kairos']['expected']}",
            None if "aps" not in L else f"{L['aps']['n']} / {L['aps']['expected']}")
        if "cpu_us_per_run" in L["kairos"]:
            row(f"daemon CPU per run (µs), {L['n']} × {every}", L["kairos"]["cpu_us_per_run"],
                g(L, "aps", "cpu_us_per_run"))
    if "burst" in o:
        B = o["burst"]
        kb, bb = B["kairos"]["last_started_s"], B["bare"]["last_started_s"]
        how = "last execve" if "execs" in B["kairos"] else "last spawn call returned"
        row(f"burst of {B['bare']['n']}: {how} after (s)", kb,
            g(B, "aps", "last_started_s"), bb, f"{kb / bb:.2f}× bare", "≤ 1.25× bare")
        if "bare_posix" in B:
            bp = B["bare_posix"]["last_started_s"]
            row("… against a bare posix_spawn loop (s)", kb, None, bp, f"{kb / bp:.2f}× posix")
        if "execs" in B["kairos"]:
            row("… last spawn call returned after (s)", B["kairos"]["spawned_s"],
                g(B, "aps", "spawned_s"), B["bare"]["spawned_s"])
    if "throughput" in o:
        T = o["throughput"]
        kt, bt = T["kairos"]["per_second"], T["bare"]["per_second"]
        aps_stuck = g(T, "aps", "stuck")  # killed after 60 s without answering SIGTERM
        row(f"sustained runs/s (offered {T['offered_per_s']:.0f}/s)", kt,
            "stuck" if aps_stuck else g(T, "aps", "per_second"), bt,
            f"{100 * kt / bt:.0f} % of bare", "≥ 90 %")
        kc, bc = T["kairos"]["cpu_us_per_run"], T["bare"].get("cpu_us_per_spawn")
        row("daemon CPU per run (µs)", kc,
            "stuck" if aps_stuck else g(T, "aps", "cpu_us_per_run"), bc,
            f"{kc - bc:.0f} µs above bare" if bc else "", "≤ 50")
        if "bare_posix" in T:
            bp = T["bare_posix"]
            row("… against a bare posix_spawn loop: runs/s, CPU per run (µs)",
                f"{kt:.3g}, {kc:.3g}", None, f"{bp['per_second']:.3g}, {bp['cpu_us_per_spawn']:.3g}",
                f"{100 * kt / bp['per_second']:.0f} %, {kc - bp['cpu_us_per_spawn']:+.0f} µs")
    if "ballast" in o and "burst" in o:
        Bl, B = o["ballast"], o["burst"]
        kr, k0 = Bl["kairos"]["per_second"], B["kairos"]["per_second"]
        ar = g(Bl, "aps", "per_second")
        a0 = g(B, "aps", "per_second")
        row(f"spawn rate with {Bl['mib']} MiB RSS (/s)", kr, ar, Bl["bare"]["per_second"],
            f"{100 * kr / k0:.0f} % of small-RSS"
            + (f" (APS {100 * ar / a0:.0f} %)" if ar and a0 else ""), "≥ 90 %")
    if "rest" in o:
        R = o["rest"]
        row("RSS at rest, few jobs (MiB)", R["rss_small_kib"]["kairos"] / 1024,
            (g(R, "rss_small_kib", "aps") or 0) / 1024 or None, target="≤ 6")
        row("RSS at rest, many jobs (MiB)", R["rss_big_kib"]["kairos"] / 1024,
            (g(R, "rss_big_kib", "aps") or 0) / 1024 or None, target="≤ 24")
        row("… of which private, few / many jobs (MiB)",
            f"{R['private_small_kib']['kairos'] / 1024:.3g} / "
            f"{R['private_big_kib']['kairos'] / 1024:.3g}",
            None if "aps" not in R["private_big_kib"] else
            f"{R['private_small_kib']['aps'] / 1024:.3g} / "
            f"{R['private_big_kib']['aps'] / 1024:.3g}")
        row(f"idle voluntary ctx switches / {R['idle_s']} s", R["idle_switches"]["kairos"],
            g(R, "idle_switches", "aps"), target="0")
    print("| figure | kairos | APScheduler | bare limit | ratio | target |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    m = o["machine"]
    print(f"\nscale={o['scale']} nproc={m['nproc']} kernel={m['kernel']} "
          f"load average {m['loadavg_start']:.1f} → {m['loadavg_end']:.1f}")


def report_compare(o, builds):
    """Two daemons side by side: each figure for A and B, as a ratio to the bare loop measured
    in the same rounds where there is one (time, rate or CPU per spawn), and B ÷ A."""
    rows = []
    f = lambda v: ("—" if v is None else f"{v:,.0f}" if abs(v) >= 1000
                   else f"{v:.3g}" if isinstance(v, float) else str(v))
    div = lambda x, y: None if x is None or y is None or not y else x / y
    fr = lambda v: "—" if v is None else f"{v:.2f}×"

    def row(what, better, A, B, bare=None):
        rows.append(f"| {what} | {better} | {f(A)} | {f(B)} | {f(bare)} | {fr(div(A, bare))} | "
                    f"{fr(div(B, bare))} | {fr(div(B, A))} |")

    for sc in ("lateness_light", "lateness", "lateness_5s"):
        if sc in o:
            L = o[sc]
            what = f"{L['n']} × every {L.get('period_s', 1)}s"
            for p in ("p50_ms", "p99_ms"):
                row(f"lateness {p[:-3]} (ms), {what}", "lower", L["A"][p], L["B"][p])
            row(f"daemon CPU per run (µs), {what}", "lower", L["A"]["cpu_us_per_run"],
                L["B"]["cpu_us_per_run"])
    if "burst" in o:
        B = o["burst"]
        how = "last execve" if "execs" in B["A"] and "execs" in B["B"] else "last spawn returned"
        row(f"burst of {B['bare']['n']}: {how} after (s)", "lower", B["A"]["last_started_s"],
            B["B"]["last_started_s"], B["bare"]["last_started_s"])
    if "ballast" in o:
        Bl = o["ballast"]
        row(f"burst spawn rate with {Bl['mib']} MiB RSS (/s)", "higher", Bl["A"]["per_second"],
            Bl["B"]["per_second"], Bl["bare"]["per_second"])
    if "throughput" in o:
        T = o["throughput"]
        row(f"sustained runs/s (offered {T['offered_per_s']:.0f}/s)", "higher",
            T["A"]["per_second"], T["B"]["per_second"], T["bare"]["per_second"])
        row("daemon CPU per run (µs), sustained", "lower", T["A"]["cpu_us_per_run"],
            T["B"]["cpu_us_per_run"], T["bare"].get("cpu_us_per_spawn"))
    if "rest" in o:
        R = o["rest"]
        mib = lambda k, w: R[k][w] / 1024
        row(f"RSS at rest, {R['jobs_small']:,} jobs (MiB)", "lower", mib("rss_small_kib", "A"),
            mib("rss_small_kib", "B"))
        row(f"RSS at rest, {R['jobs_big']:,} jobs (MiB)", "lower", mib("rss_big_kib", "A"),
            mib("rss_big_kib", "B"))
        row(f"idle voluntary ctx switches, {R['jobs_big']:,} jobs / {R['idle_s']} s", "lower",
            R["idle_switches"]["A"], R["idle_switches"]["B"])
    print("| figure | better | A | B | bare | A ÷ bare | B ÷ bare | B ÷ A |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    m = o["machine"]
    for name, build in zip("AB", builds):
        print(f"\n{name}: {build} ({os.path.relpath(o['daemons'][name], build)})", end="")
    print(f"\n\nscale={o['scale']} rounds={o['rounds']} (A, B alternating in each; medians) "
          f"nproc={m['nproc']} kernel={m['kernel']} "
          f"load average {m['loadavg_start']:.1f} → {m['loadavg_end']:.1f}")


if __name__ == "__main__":
    main()
