#!/usr/bin/env python3
"""BENCHMARKS.md from bench/run.sh's results (test-artifacts/bench), and the
size table of a build.

  report.py --artifacts DIR --out BENCHMARKS.md [--command CMD] [--elapsed S]
  report.py --artifacts DIR --out BENCHMARKS.md --busy-only [--command CMD]
      (replaces only the busy-participant parts of an existing BENCHMARKS.md:
       its summary rows, section 7 and note 8; the rest stays as it was)
  report.py --artifacts DIR --quick            (prints a summary; writes nothing)
  report.py --sizes TARGET_DIR --variant s --functions "a b" --hello PATH  (JSON to stdout)

Only the standard library: it runs with any python3.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import zipfile

MIB = 1024 * 1024

# Targets (issue 8).
TARGET_CREATE2_P50_MS = 120
TARGET_CREATE10_P50_MS = 130
TARGET_CALL_P50_MS = 65
TARGET_CALL_OVERHEAD_MS = 1.0
TARGET_CREATE2_OVERHEAD_MS = 2.0
TARGET_CHOICE_MS = 1.0
TARGET_PEAK_RSS_MIB = 24
TARGET_RSS_GROWTH_KIB = 1024
TARGET_BOOTSTRAP_MIB = 8
FUNCTIONS = ["sessions", "inbound-call", "conversation-events", "landing-page"]
# A busy participant (issue "Constant cost at any scale"): with the session
# index, whatever k is.
TARGET_BUSY_CALL_ROUND_TRIPS = 1
TARGET_BUSY_CALL_INDEX_READS = 1
TARGET_BUSY_CALL_P50_MS = 65
TARGET_BUSY_CREATE_ROUND_TRIPS = 2
TARGET_BUSY_CREATE_P50_MS = 120
# The busy-participant parts of BENCHMARKS.md, so --busy-only can replace them.
BUSY_BEGIN, BUSY_END = "<!-- busy:begin -->", "<!-- busy:end -->"
NOTE_BEGIN, NOTE_END = "<!-- busy-note:begin -->", "<!-- busy-note:end -->"
BUSY_ROW = "| 7 |"
# Cold start over TLS (issue "Faster to work in"): init within a hello-world
# function's init + one SSM read + this much; the first invocation opens no
# Twilio connection.
TARGET_COLD_INIT_SLACK_MS = 20
COLD_BEGIN, COLD_END = "<!-- cold:begin -->", "<!-- cold:end -->"
COLD_ROW = "| 3b |"


# ---------------------------------------------------------------------------
# Sizes


def sizes(target, variant, functions, hello):
    out = {"variant": variant, "functions": {}}
    for f in functions:
        entry = {}
        x86 = os.path.join(target, "release", f)
        if os.path.exists(x86):
            entry["x86_64_bytes"] = os.path.getsize(x86)
        lam = os.path.join(target, "lambda", f)
        boot = os.path.join(lam, "bootstrap")
        zpath = os.path.join(lam, "bootstrap.zip")
        if os.path.exists(boot):
            entry["arm64_bootstrap_bytes"] = os.path.getsize(boot)
        if os.path.exists(zpath):
            entry["arm64_zip_bytes"] = os.path.getsize(zpath)
            with zipfile.ZipFile(zpath) as z:
                entry["arm64_zip_uncompressed_bytes"] = sum(i.file_size for i in z.infolist())
                boot_info = [i for i in z.infolist() if i.filename == "bootstrap"]
                if boot_info and "arm64_bootstrap_bytes" not in entry:
                    # The zip holds exactly the bootstrap cargo lambda built.
                    entry["arm64_bootstrap_bytes"] = boot_info[0].file_size
        out["functions"][f] = entry
    if hello and os.path.exists(hello):
        out["hello_x86_64_bytes"] = os.path.getsize(hello)
        probes = {}
        for probe in ("phonenumber", "ssm", "reqwest"):
            path = os.path.join(os.path.dirname(hello), f"probe-{probe}")
            if os.path.exists(path):
                probes[probe] = os.path.getsize(path)
        out["probes_x86_64_bytes"] = probes
    return out


# ---------------------------------------------------------------------------
# Loading results


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def criterion(dirpath, name):
    """Median and mean per iteration (ms), and p99 of the per-sample means."""
    base = os.path.join(dirpath, name, "new")
    est = load(os.path.join(base, "estimates.json"))
    sample = load(os.path.join(base, "sample.json"))
    if not est:
        return None
    r = {
        "median_ms": est["median"]["point_estimate"] / 1e6,
        "median_ci_ms": [
            est["median"]["confidence_interval"]["lower_bound"] / 1e6,
            est["median"]["confidence_interval"]["upper_bound"] / 1e6,
        ],
        "mean_ms": est["mean"]["point_estimate"] / 1e6,
    }
    if sample:
        per_iter = sorted(t / i / 1e6 for t, i in zip(sample["times"], sample["iters"]))
        r["samples"] = len(per_iter)
        r["iterations"] = int(sum(sample["iters"]))
        r["p99_sample_ms"] = per_iter[min(len(per_iter) - 1, int(0.99 * len(per_iter)))]
    return r


def variant_results(art, variant):
    d = os.path.join(art, variant)
    if not os.path.isdir(d):
        return None
    crit_dir = os.path.join(d, "criterion")
    return {
        "inprocess": load(os.path.join(d, "inprocess.json")),
        "busy": load(os.path.join(d, "busy.json")),
        "cold": load(os.path.join(d, "cold.json")),
        "process": load(os.path.join(d, "process.json")),
        "sizes": load(os.path.join(d, "sizes.json")),
        "criterion": {
            "call": criterion(crit_dir, "overhead/inbound_call_roster_hit"),
            "create2": criterion(crit_dir, "overhead/create_2"),
            "choice": criterion(crit_dir, "number_choice/pool_5000_bindings_1000_participants_50"),
            "choice_in_all": criterion(crit_dir, "number_choice/pool_5000_bindings_1000_in_all_participants_50"),
        },
    }


# ---------------------------------------------------------------------------
# Formatting


def f1(x):
    return "n/a" if x is None else f"{x:.1f}"


def f2(x):
    return "n/a" if x is None else f"{x:.2f}"


def f3(x):
    return "n/a" if x is None else f"{x:.3f}"


def mib(b):
    return "n/a" if b is None else f"{b / MIB:.2f} MiB"


def verdict(value, target, unit, lower_is_better=True, strict=False):
    """'met' / 'missed by X unit (Y %)'."""
    if value is None:
        return "not measured"
    ok = (value < target) if strict else (value <= target)
    if not lower_is_better:
        ok = value >= target
    if ok:
        return "**met**"
    over = value - target
    return f"**missed** by {over:.2f} {unit} ({100 * over / target:.0f} %)"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass

    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {
        "nproc": run("nproc"),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "rustc": run("rustc", "--version"),
        "cargo_lambda": run("cargo-lambda", "lambda", "--version"),
    }


def loads(art):
    rows = []
    try:
        with open(os.path.join(art, "loads.jsonl")) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    except OSError:
        pass
    return rows



# ---------------------------------------------------------------------------
# A busy participant: k open sessions, the session index off and on


def k_text(k):
    return f"{k:,}"


def span(r):
    """'{min}' or '{min}–{max}' of a {"min", "max"} range."""
    if not r or r.get("min") is None:
        return "n/a"
    lo, hi = r["min"], r["max"]
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def failed_text(s):
    bad = s.get("n", 0) - s.get("ok", 0)
    return f" **({bad} of {s['n']} failed)**" if bad else ""


def busy_call_counts_met(s):
    return (s["ok"] == s["n"] and s["round_trips"]["max"] <= TARGET_BUSY_CALL_ROUND_TRIPS
            and s["index_requests"]["min"] == s["index_requests"]["max"] == TARGET_BUSY_CALL_INDEX_READS
            and s["pages"]["max"] == 0)


def busy_create_counts_met(s):
    return s["ok"] == s["n"] and s["round_trips"]["max"] <= TARGET_BUSY_CREATE_ROUND_TRIPS and s["pages"]["max"] == 0


def busy_verdict(counts_met, p50, target_ms):
    counts = "counts **met**" if counts_met else "counts **missed**"
    if p50 is None:
        return f"{counts}; p50 not measured"
    if p50 <= target_ms:
        return "**met**" if counts_met else f"{counts}; p50 met"
    over = p50 - target_ms
    return f"{counts}; p50 **missed** by {over:.1f} ms ({100 * over / target_ms:.0f} %)"


def busy_over_k(runs, value, target_ms):
    """'**met**' when every k's value is within target, else where it is not."""
    missed = [(r["k"], value(r)) for r in runs if value(r) is None or value(r) > target_ms]
    if not missed:
        return "**met**"
    ks = ", ".join(k_text(k) for k, _ in missed)
    worst = max((v for _, v in missed if v is not None), default=None)
    by = f" (by up to {worst - target_ms:.0f} ms; see note 8)" if worst is not None else ""
    return f"**missed** at k = {ks}{by}"


def busy_summary_rows(busy):
    runs = busy["runs"]
    ks = " / ".join(k_text(r["k"]) for r in runs)
    on_call = [r["on"]["call"] for r in runs]
    on_create = [r["on"]["create"] for r in runs]
    off_call_rt = " / ".join(span(r["off"]["call"]["round_trips"]) for r in runs)
    off_create_rt = " / ".join(span(r["off"]["create"]["round_trips"]) for r in runs)
    call_counts = " / ".join(f"{span(s['round_trips'])} + {span(s['index_requests'])}" for s in on_call)
    create_counts = " / ".join(span(s["round_trips"]) for s in on_create)
    call_ok = all(busy_call_counts_met(s) for s in on_call)
    create_ok = all(busy_create_counts_met(s) for s in on_create)
    call_p50 = " / ".join(f1(s["latency_ms"]["p50"]) for s in on_call)
    create_p50 = " / ".join(f1(s["latency_ms"]["p50"]) for s in on_create)
    return [
        f"{BUSY_ROW} busy participant holding k = {ks} sessions, index on: inbound call, Twilio round trips + index reads | ≤ {TARGET_BUSY_CALL_ROUND_TRIPS} + {TARGET_BUSY_CALL_INDEX_READS} at every k | {call_counts} (index off: {off_call_rt} round trips) | {'**met**' if call_ok else '**missed**'} |",
        f"{BUSY_ROW} busy participant, index on: inbound call p50, k = {ks} | ≤ {TARGET_BUSY_CALL_P50_MS} ms | {call_p50} ms | {busy_over_k(runs, lambda r: r['on']['call']['latency_ms']['p50'], TARGET_BUSY_CALL_P50_MS)} |",
        f"{BUSY_ROW} busy participant, index on: create (P + 1), sequential Twilio round trips | ≤ {TARGET_BUSY_CREATE_ROUND_TRIPS} at every k | {create_counts} (index off: {off_create_rt}) | {'**met**' if create_ok else '**missed**'} |",
        f"{BUSY_ROW} busy participant, index on: create p50, k = {ks} | ≤ {TARGET_BUSY_CREATE_P50_MS} ms | {create_p50} ms | {busy_over_k(runs, lambda r: r['on']['create']['latency_ms']['p50'], TARGET_BUSY_CREATE_P50_MS)} |",
    ]


def phase_loads(art, phase):
    """(before, after) load averages of the last time `phase` was measured."""
    before = after = None
    for r in loads(art):
        if r.get("phase") != phase:
            continue
        if r.get("when") == "before":
            before, after = r, None
        elif r.get("when") == "after":
            after = r
    return before, after


def measured_at(art, name):
    """When `s/<name>.json` was written: the results' time, however often they are rendered."""
    try:
        measured = os.path.getmtime(os.path.join(art, "s", f"{name}.json"))
    except OSError:
        measured = datetime.datetime.now().timestamp()
    return datetime.datetime.fromtimestamp(measured, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def phase_load_text(art, phase):
    """' Load average … before: … (waited … s), after: ….' for `phase`, or ''."""
    before, after = phase_loads(art, phase)
    if not before:
        return ""
    text = f" Load average (1/5/15 min) before: {before['loadavg']} (waited {before['waited_s']} s)"
    return text + (f", after: {after['loadavg']}." if after else ".")


def place_section(lines, begin, end, section, before):
    """Replaces the block marked `begin`…`end`, or inserts `section` before the first
    line starting with one of `before` (at the end when there is none)."""
    place = between(lines, begin, end)
    if place:
        lines[place[0]:place[1]] = section
        return
    heads = [i for i, l in enumerate(lines) if l.startswith(before)]
    at = heads[0] if heads else len(lines)
    lines[at:at] = section + [""]


def busy_section(busy, art, command, spliced):
    L = [BUSY_BEGIN]
    w = L.append
    w("## 7. A busy participant: k open sessions, the session index off and on")
    w("")
    if busy is None:
        w("Not measured in this run (`bench-harness busy`; `bash bench/run.sh --busy-only` measures "
          "it alone).")
        w(BUSY_END)
        return L
    runs = busy["runs"]
    now = measured_at(art, "busy")
    load = phase_load_text(art, "s/busy")
    if spliced:
        w(f"Measured by `{command}` on {now}, release build; the other sections are from the run "
          f"named at the top.{load}")
        w("")
    elif load:
        w(load.strip())
        w("")
    w(f"One participant P holds k open sessions, each with a different partner on one of a pool of "
      f"k + {busy['free_numbers']} numbers (P can hold each number once: Twilio's pair rule). "
      "*call*: P's inbound call to the proxy of one of its sessions (signed webhook; must dial the "
      "partner). *create*: `POST /sessions` with P and a fresh partner, closed and deleted again "
      "after each, so P keeps k. Handlers in-process, release build, emulator latency "
      f"{busy['emulator_latency_ms']:g} ms per Twilio request. **Index off** is today's "
      "behaviour (no `SESSION_INDEX_TABLE`): what P holds comes from Twilio's "
      f"`ParticipantConversations`, {busy['page_size']} a page, read page after page. **Index on**: "
      "the session index in moto's DynamoDB, counted by a proxy in front of it; its latency is "
      "moto's, not DynamoDB's (note 8). Round trips are sequential Twilio requests "
      "(`sequential_round_trips`); index reads/requests are what the proxy received.")
    w("")
    w(f"| k | off: call p50 / p95 ms | off: call round trips | off: create p50 / p95 ms | off: create round trips "
      f"| on: call p50 / p95 ms | on: call round trips + index reads | on: create p50 / p95 ms | on: create round trips (index requests) "
      f"| call target: ≤ {TARGET_BUSY_CALL_ROUND_TRIPS} + {TARGET_BUSY_CALL_INDEX_READS}, p50 ≤ {TARGET_BUSY_CALL_P50_MS} ms "
      f"| create target: ≤ {TARGET_BUSY_CREATE_ROUND_TRIPS}, p50 ≤ {TARGET_BUSY_CREATE_P50_MS} ms |")
    w("| ---: | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        off, on = r["off"], r["on"]

        def lat(s):
            l = s["latency_ms"]
            return f"{f1(l['p50'])} / {f1(l['p95'])}{failed_text(s)}"

        oc, ok_, nc, nk = off["call"], off["create"], on["call"], on["create"]
        w(f"| {k_text(r['k'])} | {lat(oc)} | {span(oc['round_trips'])} | {lat(ok_)} | {span(ok_['round_trips'])} "
          f"| {lat(nc)} | {span(nc['round_trips'])} + {span(nc['index_requests'])} | {lat(nk)} | {span(nk['round_trips'])} ({span(nk['index_requests'])}) "
          f"| {busy_verdict(busy_call_counts_met(nc), nc['latency_ms']['p50'], TARGET_BUSY_CALL_P50_MS)} "
          f"| {busy_verdict(busy_create_counts_met(nk), nk['latency_ms']['p50'], TARGET_BUSY_CREATE_P50_MS)} |")
    w("")
    iters = "; ".join(f"k = {k_text(r['k'])}: {r['off']['call']['n']} off, {r['on']['call']['n']} on" for r in runs)
    w(f"Iterations of each (calls and creates alike): {iters}. The targets are for the index on.")
    w("")
    w("Where the time goes. *Twilio request*: the emulator's time per request, its 50 ms "
      "included (index off: the page reads; the emulator builds the whole list for every page, "
      "so its own share grows with k). *Call less index*: the call's latency minus its one "
      "index read, which comes before its Twilio read. The create's index requests overlap its "
      "Twilio requests: its holdings reads (one GetItem per participant; P's item names every "
      "number P holds, so it is the largest) run beside the conversation create, its writes "
      "beside the adds.")
    w("")
    w("| k | off: Twilio request p50 / max ms | on: call less index p50 ms | on: call's index read p50 / max ms "
      "| on: create's index requests | on: create's slowest index request p50 / max ms |")
    w("| ---: | --- | --- | --- | --- | --- |")
    for r in runs:
        off, on = r["off"], r["on"]
        tw = off["call"].get("twilio_request_ms", {})
        cq = on["call"].get("index_request_ms_by_operation", {}).get("GetItem", {})
        slow = on["create"].get("slowest_index_request_ms", {})
        ops = ", ".join(on["create"].get("index_operations_first") or []) or "none"
        w(f"| {k_text(r['k'])} | {f1(tw.get('p50'))} / {f1(tw.get('max'))} | {f1(on['call']['latency_less_index_ms']['p50'])} "
          f"| {f1(cq.get('p50'))} / {f1(cq.get('max'))} | {span(on['create']['index_requests'])}: {ops} "
          f"| {f1(slow.get('p50'))} / {f1(slow.get('max'))} |")
    w("")
    seeds = "; ".join(
        f"k = {k_text(r['k'])}: {r['seed']['emulator_s']:.2f} s into the emulator, {r['seed']['index_items']:,} "
        f"items in {r['seed']['index_batches']:,} BatchWriteItem requests, {r['seed']['index_s']:.1f} s into moto"
        for r in runs)
    w(f"Seeding (not timed in the figures above): {seeds}.")
    failures = busy.get("failures") or []
    if failures:
        w("")
        w("Checks that failed in this run:")
        w("")
        for f in failures:
            w(f"- {f}")
    w(BUSY_END)
    return L


def busy_note_values(busy):
    values = {}
    runs = (busy or {}).get("runs") or []
    if not runs:
        return values
    first, last = runs[0], runs[-1]
    less = [r["on"]["call"]["latency_less_index_ms"]["p50"] for r in runs]
    q = lambda r, what: r["on"][what].get("index_request_ms_by_operation", {}).get("GetItem", {}).get("p50")
    values.update({
        "busy_kmax": k_text(last["k"]),
        "busy_kmin": k_text(first["k"]),
        "busy_off_call_kmax_ms": f1(last["off"]["call"]["latency_ms"]["p50"]),
        "busy_off_call_kmax_round_trips": span(last["off"]["call"]["round_trips"]),
        "busy_off_create_kmax_ms": f1(last["off"]["create"]["latency_ms"]["p50"]),
        "busy_on_call_kmax_ms": f1(last["on"]["call"]["latency_ms"]["p50"]),
        "busy_on_create_kmax_ms": f1(last["on"]["create"]["latency_ms"]["p50"]),
        "busy_on_call_query_kmin_ms": f1(q(first, "call")),
        "busy_on_call_query_kmax_ms": f1(q(last, "call")),
        "busy_on_create_slowest_kmax_ms": f1(last["on"]["create"]["slowest_index_request_ms"]["p50"]),
        "busy_on_create_index_requests_kmax": span(last["on"]["create"]["index_requests"]),
        "busy_on_create_index_requests_kmin": span(first["on"]["create"]["index_requests"]),
        "busy_off_twilio_request_kmax_ms": f1(last["off"]["call"]["twilio_request_ms"]["p50"]),
        "busy_off_call_kmax_failed": f"{last['off']['call']['n'] - last['off']['call']['ok']} of {last['off']['call']['n']}",
        "busy_on_call_less_index_ms": f"{f1(min(less))}–{f1(max(less))}",
    })
    return values


def notes_text(values):
    notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    if not os.path.exists(notes_path):
        return ""
    with open(notes_path) as fh:
        text = fh.read().rstrip()
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text


def between(lines, begin, end):
    """(start, stop) indexes of the marked block, markers included, or None."""
    try:
        start = lines.index(begin)
        stop = lines.index(end, start)
    except ValueError:
        return None
    return start, stop + 1


def splice_start(art, out, name, what, row, after_figure, rows_of):
    """(results, lines of `out`) with `row`'s summary rows replaced after the last row of
    `after_figure`; exits when there are no full results or no report to splice into."""
    results = load(os.path.join(art, "s", f"{name}.json"))
    if not results or results.get("quick"):
        sys.exit(f"report.py: no full {what} results in {art}/s/{name}.json")
    try:
        with open(out) as fh:
            lines = fh.read().rstrip("\n").split("\n")
    except OSError:
        sys.exit(f"report.py: {out} does not exist; `bash bench/run.sh` writes it whole")
    lines = [l for l in lines if not l.startswith(row)]
    ends = [i for i, l in enumerate(lines) if l.startswith(after_figure)]
    if not ends:
        sys.exit(f"report.py: {out} has no summary table to add rows to")
    lines[ends[-1] + 1:ends[-1] + 1] = rows_of(results)
    return results, lines


def splice_busy(art, out, command):
    # Summary rows: after the last row of figure 6 (the end of the table).
    busy, lines = splice_start(art, out, "busy", "busy-participant", BUSY_ROW, "| 6 |",
                               busy_summary_rows)

    place_section(lines, BUSY_BEGIN, BUSY_END, busy_section(busy, art, command, spliced=True),
                  ("## opt-level", "## Notes"))

    notes = notes_text(busy_note_values(busy)).split("\n")
    note = between(notes, NOTE_BEGIN, NOTE_END)
    if note:
        block = notes[note[0]:note[1]]
        place = between(lines, NOTE_BEGIN, NOTE_END)
        if place:
            lines[place[0]:place[1]] = block
        else:
            lines += [""] + block
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------
# Cold start over TLS: before and after, one run


def cold_target_ms(cold):
    return (cold["hello"]["init_ms"]["p50"] + cold["ssm_fresh_read_ms"]["p50"]
            + TARGET_COLD_INIT_SLACK_MS)


def cold_summary_rows(cold):
    target = cold_target_ms(cold)
    rows = []
    for f in FUNCTIONS:
        after = cold["functions"].get(f, {}).get("after")
        if not after:
            continue
        init = after["init_ms"]["p50"]
        rows.append(f"{COLD_ROW} cold start {f} over TLS: init p50 | ≤ hello-world init + 1 SSM read + "
                    f"{TARGET_COLD_INIT_SLACK_MS} ms = {f1(target)} ms | {f1(init)} ms | "
                    f"{verdict(init, target, 'ms')} |")
    first = [cold["functions"][f]["after"]["twilio_connections_first_invocation"]["max"]
             for f in FUNCTIONS if f in cold["functions"]]
    rows.append(f"{COLD_ROW} Twilio connections opened by the first invocation after a cold start, every "
                f"function | 0 | {max(first)} | {'**met**' if max(first) == 0 else '**missed**'} |")
    return rows


def cold_section(cold, art, command, spliced, before_name=""):
    L = [COLD_BEGIN]
    w = L.append
    w("## 3b. Cold start over TLS: the first invocation, before and after")
    w("")
    if cold is None:
        w("Not measured in this run (`bench-harness cold`; `bash bench/run.sh --cold-only` measures it alone).")
        w(COLD_END)
        return L
    load = phase_load_text(art, "s/cold")
    names = [v["name"] for v in cold["variants"]]
    if spliced:
        w(f"Measured by `{command}` on {measured_at(art, 'cold')}, release builds (x86_64); the other sections "
          f"are from the run named at the top.{load}")
        w("")
    before_dir = next((v["bin_dir"] for v in cold["variants"] if v["name"] == "before"), None)
    before_dir = before_name or before_dir
    w("Each release binary starts as Lambda starts it (the Runtime API stand-in of section 3), but Twilio "
      "(the emulator) and SSM (moto, through the counting proxy) are each reached through a TLS listener "
      "with a test certificate authority, so every new connection pays a real TLS 1.3 handshake on "
      "loopback; the functions trust the machine's bundle plus that CA (`SSL_CERT_FILE`). No session "
      "index (the DynamoDB connection is opened during init as well when there is one; "
      "`shared/tests/integration/index.rs` counts it). *init*: exec → first `next`. *first invocation*: "
      "the first event, queued once init is done, → its response. *warm*: the second event. Twilio "
      "connections are counted by the emulator, during init and during the first invocation. "
      + (f"**before** is the functions as of `{before_dir}`, **after** the current ones; they start "
         "alternately, " if before_dir else "")
      + f"{cold['runs']} starts each, the page cache warm.")
    w("")
    target = cold_target_ms(cold)
    w(f"Baseline: the hello-world function's init p50 **{f1(cold['hello']['init_ms']['p50'])} ms**; one SSM "
      f"read on a new connection (GetParametersByPath with its TLS handshake, from the harness) p50 "
      f"**{f1(cold['ssm_fresh_read_ms']['p50'])} ms**. Target for init: their sum + "
      f"{TARGET_COLD_INIT_SLACK_MS} ms = **{f1(target)} ms**.")
    w("")
    w("| function | version | binary | init p50 / p90 ms | first invocation p50 / p90 ms | warm p50 / p90 ms "
      "| Twilio connections: init / first invocation | init target |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in FUNCTIONS:
        entry = cold["functions"].get(f)
        if not entry:
            continue
        for name in names:
            r = entry[name]
            c = lambda key: span(r[key])
            init = r["init_ms"]["p50"]
            w(f"| {f} | {name} | {mib(r['binary_bytes'])} | {f1(init)} / {f1(r['init_ms']['p90'])} "
              f"| {f1(r['first_invocation_ms']['p50'])} / {f1(r['first_invocation_ms']['p90'])} "
              f"| {f1(r['warm_invocation_ms']['p50'])} / {f1(r['warm_invocation_ms']['p90'])} "
              f"| {c('twilio_connections_init')} / {c('twilio_connections_first_invocation')} "
              f"| {verdict(init, target, 'ms')} |")
    failures = cold.get("failures") or []
    if failures:
        w("")
        w("Checks that failed: " + "; ".join(failures))
    w(COLD_END)
    return L


# Issue 20's before and after: create, call and close of a busy participant
# (k open sessions), the same harness built against both libraries.
BA_BEGIN, BA_END = "<!-- busy-before-after:begin -->", "<!-- busy-before-after:end -->"


def before_after_section(before, after, art, command, before_name):
    L = [BA_BEGIN]
    w = L.append
    w("## 7b. Before and after one close path and the session lock: create, call, close")
    w("")
    written = os.path.getmtime(os.path.join(art, "after", "busy.json"))
    now = datetime.datetime.fromtimestamp(written, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    w(f"Measured {now} by `{command}`.{phase_load_text(art, 'busy-before-after')} "
      f"**Before** is `{before_name}` (an API close kept the conversation and took no lock), "
      "**after** is this checkout (the close deletes the conversation once Twilio confirms; "
      "PATCH, participant changes and close take the session's lock; calls take no lock). "
      "The same harness (this checkout's `bench/`) measured both, one after the other, "
      "in-process, release build, emulator latency "
      f"{after['emulator_latency_ms']:g} ms per Twilio request, the session index in moto's "
      "DynamoDB. *Round trips* are sequential Twilio requests; *index* the requests the "
      "index's proxy received. A close is `DELETE /sessions/{sid}`.")
    w("")
    w("| k | index | op | before: p50 / p95 ms | before: round trips (index requests) "
      "| after: p50 / p95 ms | after: round trips (index requests) | ok (before / after) |")
    w("| ---: | --- | --- | --- | --- | --- | --- | --- |")
    runs_before = {r["k"]: r for r in before["runs"]}
    for run in after["runs"]:
        k = run["k"]
        old = runs_before.get(k)
        if not old:
            continue
        for side in ("on", "off"):
            for op in ("create", "call", "close"):
                a = run[side].get(op)
                b = old[side].get(op)
                if not a or not b:
                    continue
                def cell(x):
                    return f"{f1(x['latency_ms']['p50'])} / {f1(x['latency_ms']['p95'])}"
                def counts(x):
                    return f"{span(x['round_trips'])} ({span(x['index_requests'])})"
                w(f"| {k_text(k)} | {side} | {op} | {cell(b)} | {counts(b)} | {cell(a)} "
                  f"| {counts(a)} | {b['ok']}/{b['n']} / {a['ok']}/{a['n']} |")
    failing = sorted({f"k = {k_text(r['k'])}, index {side}"
                      for r in after["runs"] + before["runs"]
                      for side in ("on", "off")
                      for op in ("create", "call", "close")
                      if r[side].get(op) and r[side][op]["ok"] < r[side][op]["n"]})
    if failing:
        w("")
        w(f"Failures ({'; '.join(failing)}) are the same in both versions: without the "
          "index, a participant with thousands of sessions is "
          "found by paging Twilio's list, which runs past the 10 s budget (section 7); no "
          "create succeeded there, so there was no close to time.")
    w("")
    w("A call's answer path is the same before and after (one index read, one Twilio read; "
      "no lock). A create is unchanged. A close now waits for Twilio's delete (and the "
      "lock's two index requests): that is the price of leaving nothing behind, paid once "
      "per session. Without the index a close reads the session first (its record says it "
      "is ours); with it, the index's item says so and the close is the first request.")
    w(BA_END)
    return L


def splice_before_after(art, out, command, before_name):
    before = load(os.path.join(art, "before", "busy.json"))
    after = load(os.path.join(art, "after", "busy.json"))
    if not before or not after:
        sys.exit(f"report.py: no before/after busy results in {art}/before and {art}/after")
    with open(out) as fh:
        lines = fh.read().rstrip("\n").split("\n")
    place_section(lines, BA_BEGIN, BA_END,
                  before_after_section(before, after, art, command, before_name),
                  ("## opt-level", "## Notes"))
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def splice_cold(art, out, command, before_name):
    cold, lines = splice_start(art, out, "cold", "cold-start", COLD_ROW, "| 3 |", cold_summary_rows)
    place_section(lines, COLD_BEGIN, COLD_END,
                  cold_section(cold, art, command, spliced=True, before_name=before_name), ("## 4.",))
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------
# The report


def build_report(art, command, elapsed, before_name=""):
    s = variant_results(art, "s")
    o3 = variant_results(art, "3")
    if not s or not s["inprocess"] or not s["process"]:
        sys.exit(f"report.py: no full results under {art}/s (run bash bench/run.sh first)")
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L = []
    w = L.append

    w("# Benchmarks")
    w("")
    took = f" The run took {int(elapsed) // 60} min {int(elapsed) % 60} s." if elapsed else ""
    w(f"Generated by `{command}` on {now} (`make bench` runs `bash bench/run.sh`); do not "
      "edit by hand. How it measures, and how to run it: [bench/README.md](bench/README.md)."
      + took)
    w("")
    w("## Machine")
    w("")
    w("| nproc | CPU | memory | kernel | rustc | cargo-lambda |")
    w("| --- | --- | --- | --- | --- | --- |")
    w(f"| {m['nproc']} | {m['cpu']} | {m['memory']} | {m['kernel']} | {m['rustc']} | {m['cargo_lambda']} |")
    w("")
    lrows = loads(art)
    if lrows:
        w("Load average (1/5/15 min) around each timed phase. Timed phases wait (bounded) for a "
          "1-minute load below 1.5; other engineers were compiling on this 2-core machine, so "
          "the 'after' figures include our own measurement load:")
        w("")
        w("| phase | before | waited | after |")
        w("| --- | --- | --- | --- |")
        phases = {}
        for r in lrows:
            phases.setdefault(r["phase"], {})[r["when"]] = r
        worst = 0.0
        for phase, r in phases.items():
            b = r.get("before", {})
            a = r.get("after", {})
            w(f"| {phase} | {b.get('loadavg', '')} | {b.get('waited_s', 0)} s | {a.get('loadavg', '')} |")
            try:
                worst = max(worst, float(b.get("loadavg", "0").split()[0]))
            except ValueError:
                pass
        w("")
        if worst >= 1.5:
            w(f"**Caution: some timed phases started at a 1-minute load of {worst:.2f} (target: "
              "below 1.5).** Other work shared the 2 cores, so latencies, cold-start times and "
              "Criterion figures here are pessimistic and noisier than on a quiet machine; counts, "
              "memory and sizes are unaffected. Re-run `make bench` on a quiet machine for final "
              "timings.")
            w("")

    ip = s["inprocess"]
    sc = ip["scenarios"]
    pr = s["process"]
    fn = pr["functions"]
    cr = s["criterion"]
    sz = s["sizes"] or {"functions": {}}

    def rt(name):
        r = sc.get(name, {}).get("round_trips", {})
        lo, hi = r.get("min"), r.get("max")
        return lo, hi, (f"{lo}" if lo == hi else f"{lo}–{hi}")

    def rt_verdict(name, target):
        lo, hi, _ = rt(name)
        if lo is None:
            return "not measured"
        return "**met**" if lo == hi == target else f"**missed** ({lo}–{hi} instead of {target})"

    def lat(name, key="p50"):
        return sc.get(name, {}).get("latency_ms", {}).get(key)

    w("## Summary")
    w("")
    w("Figures for the deployed profile (`opt-level = \"z\"`, LTO, 1 codegen unit, panic=unwind, "
      "strip). Latency figures are x86_64 on the machine above; sizes are the arm64 "
      "Lambda artifacts.")
    w("")
    w("| # | figure | target | measured | verdict |")
    w("| --- | --- | --- | --- | --- |")
    n_create = sc["create_2"]["latency_ms"]["n"]
    w(f"| 1 | round trips, create with 2 participants | 2 | {rt('create_2')[2]} (of {sc['create_2']['requests']['max']} requests) | {rt_verdict('create_2', 2)} |")
    w(f"| 1 | round trips, create with 10 participants | 2 | {rt('create_10')[2]} (of {sc['create_10']['requests']['max']} requests) | {rt_verdict('create_10', 2)} |")
    w(f"| 1 | round trips, create with 50 participants | report | {rt('create_50')[2]} (of {sc['create_50']['requests']['max']} requests) | see note 1 |")
    w(f"| 1 | round trips, 1:1 inbound call (roster hit) | 1 | {rt('call_roster_hit')[2]} | {rt_verdict('call_roster_hit', 1)} |")
    w(f"| 1 | round trips, inbound call, fallback (no roster) | 2 | {rt('call_fallback')[2]} | {rt_verdict('call_fallback', 2)} |")
    w(f"| 1 | create(2) latency, 50 ms emulator latency, p50 / p99 | p50 ≤ {TARGET_CREATE2_P50_MS} ms | {f1(lat('create_2'))} / {f1(lat('create_2', 'p99'))} ms (n={n_create}) | {verdict(lat('create_2'), TARGET_CREATE2_P50_MS, 'ms')} |")
    w(f"| 1 | create(10) latency, p50 / p99 | p50 ≤ {TARGET_CREATE10_P50_MS} ms | {f1(lat('create_10'))} / {f1(lat('create_10', 'p99'))} ms (n={sc['create_10']['latency_ms']['n']}) | {verdict(lat('create_10'), TARGET_CREATE10_P50_MS, 'ms')} |")
    w(f"| 1 | create(50) latency, p50 / max | report | {f1(lat('create_50'))} / {f1(lat('create_50', 'max'))} ms (n={sc['create_50']['latency_ms']['n']}) | see note 1 |")
    w(f"| 1 | inbound call latency (roster hit), p50 / p99 | p50 ≤ {TARGET_CALL_P50_MS} ms | {f1(lat('call_roster_hit'))} / {f1(lat('call_roster_hit', 'p99'))} ms (n={sc['call_roster_hit']['latency_ms']['n']}) | {verdict(lat('call_roster_hit'), TARGET_CALL_P50_MS, 'ms')} |")
    w(f"| 1 | inbound call latency (fallback), p50 / p99 | report | {f1(lat('call_fallback'))} / {f1(lat('call_fallback', 'p99'))} ms | – |")

    c_call, c_create, c_choice = cr["call"], cr["create2"], cr["choice"]
    c_choice_all = cr.get("choice_in_all")
    z = ip.get("zero_latency", {})
    zc = z.get("call_roster_hit", {}).get("latency_ms", {})
    zk = z.get("create_2", {}).get("latency_ms", {})
    w(f"| 2 | our overhead, inbound call (Criterion median; per-invocation p50 / p99) | < {TARGET_CALL_OVERHEAD_MS:g} ms | {f3(c_call and c_call['median_ms'])} ms; {f3(zc.get('p50'))} / {f3(zc.get('p99'))} ms | {verdict(c_call and c_call['median_ms'], TARGET_CALL_OVERHEAD_MS, 'ms', strict=True)} |")
    w(f"| 2 | our overhead, create(2) (Criterion median; per-invocation p50 / p99) | < {TARGET_CREATE2_OVERHEAD_MS:g} ms | {f3(c_create and c_create['median_ms'])} ms; {f3(zk.get('p50'))} / {f3(zk.get('p99'))} ms | {verdict(c_create and c_create['median_ms'], TARGET_CREATE2_OVERHEAD_MS, 'ms', strict=True)} |")

    hello = fn.get("hello-lambda", {})
    base_init = hello.get("cold", {}).get("init_ms", {}).get("p50")
    ssm_rt = pr.get("ssm_round_trip_ms", {}).get("p50")
    init_target = None if base_init is None or ssm_rt is None else 2 * base_init + ssm_rt
    for f in FUNCTIONS:
        cold = fn.get(f, {}).get("cold", {})
        init = cold.get("init_ms", {}).get("p50")
        ratio = (init / base_init) if init and base_init else None
        w(f"| 3 | cold start {f}: init (exec → first `next`) p50 | ≤ 2 × baseline + 1 SSM round trip = {f1(init_target)} ms | {f1(init)} ms ({f2(ratio)} × baseline {f1(base_init)} ms) | {verdict(init, init_target, 'ms') if init_target else 'n/a'} |")
    for f in FUNCTIONS:
        warm = fn.get(f, {}).get("warm", {})
        par = warm.get("max_parallel_twilio_requests", 0)
        ok = warm.get("ssm_requests_warm") == 0 and warm.get("twilio_connections_total", 1e9) <= 2 * par
        at = warm.get("twilio_new_connection_at_invocation") or []
        late = [i for i in at if i > 1]
        where = f" (new at invocation {', '.join(map(str, late))})" if late else ""
        w(f"| 3 | warm invocations {f}: SSM requests / Twilio connections in all, over {warm.get('invocations', 0)} invocations | 0 / bounded by the invocation's concurrency ({par}; ≤ {2 * par}, see note 3) | {warm.get('ssm_requests_warm')} / {warm.get('twilio_connections_total')}{where} | {'**met**' if ok else '**missed**'} |")
    if s["cold"]:
        L.extend(cold_summary_rows(s["cold"]))
    for f in FUNCTIONS:
        mem = fn.get(f, {}).get("warm", {}).get("memory_kib", {})
        hwm = mem.get("vm_hwm_at_checkpoint")
        hwm_mib = hwm / 1024 if hwm is not None else None
        w(f"| 4 | peak RSS {f} (VmHWM after {mem.get('checkpoint')} invocations) | ≤ {TARGET_PEAK_RSS_MIB} MiB | {f2(hwm_mib)} MiB | {verdict(hwm_mib, TARGET_PEAK_RSS_MIB, 'MiB')} |")
    for f in FUNCTIONS:
        mem = fn.get(f, {}).get("warm", {}).get("memory_kib", {})
        g = mem.get("vm_rss_growth_checkpoint_to_end")
        n = fn.get(f, {}).get("warm", {}).get("invocations")
        w(f"| 4 | RSS growth {f}, invocation {mem.get('checkpoint')} → {n} | < {TARGET_RSS_GROWTH_KIB} KiB | {g} KiB | {verdict(g, TARGET_RSS_GROWTH_KIB, 'KiB', strict=True)} |")
    for f in FUNCTIONS:
        e = sz["functions"].get(f, {})
        b = e.get("arm64_bootstrap_bytes")
        w(f"| 5 | arm64 bootstrap {f} (zip) | ≤ {TARGET_BOOTSTRAP_MIB} MiB | {mib(b)} ({mib(e.get('arm64_zip_bytes'))}) | {verdict(b / MIB if b else None, TARGET_BOOTSTRAP_MIB, 'MiB')} |")
    w(f"| 6 | number choice: pool 5,000, 1,000 bindings in all (20 per participant), 50 participants (Criterion median) | < {TARGET_CHOICE_MS:g} ms | {f3(c_choice_all and c_choice_all['median_ms'])} ms | {verdict(c_choice_all and c_choice_all['median_ms'], TARGET_CHOICE_MS, 'ms', strict=True)} |")
    w(f"| 6 | number choice, worst case: 1,000 bindings *per participant* (50,000 in all) | < {TARGET_CHOICE_MS:g} ms | {f3(c_choice and c_choice['median_ms'])} ms | {verdict(c_choice and c_choice['median_ms'], TARGET_CHOICE_MS, 'ms', strict=True)} |")
    busy = s["busy"]
    if busy:
        L.extend(busy_summary_rows(busy))
    w("")

    # ---- details
    w("## 1. Round trips and latency (in-process handler, emulator latency "
      f"{ip['emulator_latency_ms']:g} ms per request)")
    w("")
    w("Round trips are the longest chain of Twilio requests where each starts after the previous "
      "one finished, from the emulator's timestamps (`twilio_emulator::sequential_round_trips`), "
      "for every iteration (min–max shown). Latency is measured around the handler call "
      "(`handlers::sessions::handle` / `handlers::inbound_call::handle`), release build, "
      "warm connection pool, fresh participant addresses for every create.")
    w("")
    w("| scenario | requests | round trips | n | p50 ms | p90 ms | p99 ms | max ms |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, label in [("create_2", "create, 2 participants"), ("create_10", "create, 10 participants"),
                        ("create_50", "create, 50 participants"), ("call_roster_hit", "inbound call, roster hit"),
                        ("call_fallback", "inbound call, fallback")]:
        r = sc.get(name)
        if not r:
            continue
        l = r["latency_ms"]
        req = r["requests"]
        reqs = f"{req['min']}" if req["min"] == req["max"] else f"{req['min']}–{req['max']}"
        w(f"| {label} | {reqs} | {rt(name)[2]} | {l['n']} | {f1(l['p50'])} | {f1(l['p90'])} | {f1(l['p99'])} | {f1(l['max'])} |")
    w("")

    w("## 2. Our own overhead (emulator latency 0)")
    w("")
    w("Criterion (`bench/benches/overhead.rs`), in-process handler, release profile. **This "
      "includes the loopback HTTP round trips to the emulator and the emulator's own request "
      "handling** (1 request for the call, 6 for a 2-participant create), on the same 2 cores, "
      "so it is an upper bound on our code. Criterion's median is the median of per-sample "
      "means; the harness's per-invocation distribution (same setup) is beside it.")
    w("")
    w("| benchmark | Criterion median ms (95 % CI) | mean ms | worst sample mean ms | harness p50 / p99 ms |")
    w("| --- | --- | --- | --- | --- |")
    for label, c, zz in [("inbound call, roster hit", c_call, zc), ("create, 2 participants", c_create, zk),
                          ("number choice 5,000 / 1,000 in all / 50", c_choice_all, {}),
                          ("number choice 5,000 / 1,000 per participant / 50", c_choice, {})]:
        if not c:
            w(f"| {label} | not measured | | | |")
            continue
        ci = c["median_ci_ms"]
        hz = f"{f3(zz.get('p50'))} / {f3(zz.get('p99'))}" if zz else "–"
        w(f"| {label} | {f3(c['median_ms'])} ({f3(ci[0])}–{f3(ci[1])}) | {f3(c['mean_ms'])} | {f3(c.get('p99_sample_ms'))} | {hz} |")
    w("")

    w("## 3. Cold start and warm invocations (whole process)")
    w("")
    w("Each release binary runs as Lambda runs it: `AWS_LAMBDA_RUNTIME_API` points at a Runtime "
      "API stand-in in the harness, configuration comes from moto's SSM "
      "(`SSM_PARAMETER_PREFIX`, `AWS_ENDPOINT_URL`, dummy credentials) through a counting proxy, "
      "Twilio is the emulator (no added latency). *init* = exec → first "
      "`GET /runtime/invocation/next` (includes the SSM load); *first response* = exec → "
      "`POST /runtime/invocation/{id}/response` for an event queued before exec. "
      f"{pr['runs']} starts each; the page cache is warm (the binary was just run), loopback "
      "only (no TLS: on AWS add the TLS handshakes to SSM and Twilio).")
    w("")
    w(f"One SSM round trip (GetParametersByPath through the proxy to moto), p50: **{f1(ssm_rt)} ms** "
      f"(n={pr.get('ssm_round_trip_ms', {}).get('n')}). Baseline: `bench/src/bin/hello.rs`, a "
      "hello-world lambda_http function (same features, tokio runtime and release profile; no "
      "configuration, no SSM).")
    w("")
    w("| function | binary (x86_64) | init p50 / p90 / max ms | × baseline | first response p50 / p90 / max ms | SSM requests per start |")
    w("| --- | --- | --- | --- | --- | --- |")
    for f in ["hello-lambda"] + FUNCTIONS:
        e = fn.get(f)
        if not e:
            continue
        c = e["cold"]
        i, r = c["init_ms"], c["first_response_ms"]
        ratio = f2(i["p50"] / base_init) if base_init else "n/a"
        ssm = c["ssm_requests_per_start"]
        w(f"| {f} | {mib(e.get('binary_bytes'))} | {f1(i['p50'])} / {f1(i['p90'])} / {f1(i['max'])} | {ratio} | {f1(r['p50'])} / {f1(r['p90'])} / {f1(r['max'])} | {ssm['min'] if ssm['min'] == ssm['max'] else str(ssm['min']) + '–' + str(ssm['max'])} |")
    w("")
    w("Warm invocations, one process per function, events delivered one after another through "
      "the Runtime API stand-in (latency = queue event → response posted, includes the "
      "stand-in's HTTP):")
    w("")
    w("| function | invocations | warm latency p50 / p99 ms | SSM requests: init+1st / warm | Twilio connections: 1st invocation / warm / most in flight at once |")
    w("| --- | --- | --- | --- | --- |")
    for f in ["hello-lambda"] + FUNCTIONS:
        e = fn.get(f)
        if not e:
            continue
        wm = e["warm"]
        wl = wm["warm_latency_ms"]
        w(f"| {f} | {wm['invocations']} | {f2(wl['p50'])} / {f2(wl['p99'])} | {wm['ssm_requests_first_invocation_incl_init']} / {wm['ssm_requests_warm']} | {wm['twilio_connections_first_invocation']} / {wm['twilio_connections_warm']} / {wm['max_parallel_twilio_requests']} |")
    w("")

    L.extend(cold_section(s["cold"], art, command, spliced=False, before_name=before_name))
    w("")

    w("## 4. Memory")
    w("")
    w("`/proc/PID/status` of the function process during the warm run above. MB in the targets "
      "is read as MiB.")
    w("")
    w("| function | VmHWM after checkpoint | VmRSS at checkpoint | VmRSS at end | growth | VmHWM at end |")
    w("| --- | --- | --- | --- | --- | --- |")
    for f in ["hello-lambda"] + FUNCTIONS:
        e = fn.get(f)
        if not e:
            continue
        mm = e["warm"]["memory_kib"]
        w(f"| {f} | {mm['vm_hwm_at_checkpoint'] / 1024:.2f} MiB (inv. {mm['checkpoint']}) | {mm['vm_rss_at_checkpoint'] / 1024:.2f} MiB | {mm['vm_rss_end'] / 1024:.2f} MiB (inv. {e['warm']['invocations']}) | {mm['vm_rss_growth_checkpoint_to_end']} KiB | {mm['vm_hwm_end'] / 1024:.2f} MiB |")
    w("")

    w("## 5. Size")
    w("")
    w("`cargo lambda build --release --arm64` (bootstrap) and `--output-format zip`; x86_64 is "
      "`cargo build --release`.")
    w("")
    variants = [("s", s)] + ([("3", o3)] if o3 and o3.get("sizes") else [])
    hdr = "| function | " + " | ".join(
        f"arm64 bootstrap (opt {v}) | zip (opt {v}) | x86_64 (opt {v})" for v, _ in variants) + " |"
    w(hdr)
    w("| --- |" + " --- | --- | --- |" * len(variants))
    for f in FUNCTIONS:
        cells = []
        for _, r in variants:
            e = (r["sizes"] or {"functions": {}})["functions"].get(f, {})
            cells += [mib(e.get("arm64_bootstrap_bytes")), mib(e.get("arm64_zip_bytes")), mib(e.get("x86_64_bytes"))]
        w(f"| {f} | " + " | ".join(cells) + " |")
    w("")

    probes = (s["sizes"] or {}).get("probes_x86_64_bytes") or {}
    hello_b = (s["sizes"] or {}).get("hello_x86_64_bytes")
    if probes and hello_b:
        w("Where the size comes from (x86_64, same profile): the hello-world baseline, and the "
          "baseline plus one dependency as the functions use it (`bench/src/bin/probe/`). "
          "Shared pieces (tokio, hyper, rustls) are counted in each row they appear in, so "
          "the rows do not add up exactly.")
        w("")
        w("| binary | size | over the baseline |")
        w("| --- | --- | --- |")
        w(f"| hello-world lambda_http (baseline) | {mib(hello_b)} | – |")
        labels = {"phonenumber": "+ `phonenumber` (`Location::of`)",
                  "ssm": "+ `aws-config` + `aws-sdk-ssm` (GetParametersByPath)",
                  "reqwest": "+ `reqwest` with rustls (the Twilio client)"}
        for k, b in probes.items():
            w(f"| {labels.get(k, k)} | {mib(b)} | +{mib(b - hello_b)} |")
        x86 = (s["sizes"] or {"functions": {}})["functions"].get("sessions", {}).get("x86_64_bytes")
        if x86:
            w(f"| sessions (everything) | {mib(x86)} | +{mib(x86 - hello_b)} |")
        w("")

    L.extend(busy_section(busy, art, command, spliced=False))
    w("")

    if not (o3 and (o3.get("process") or o3.get("sizes"))):
        w("## opt-level \"z\" (deployed) vs 3")
        w("")
        w("Not measured in this run. `bash bench/run.sh` (without `--no-o3`) builds everything "
          "again with `CARGO_PROFILE_RELEASE_OPT_LEVEL=3` into `target/bench-o3/` and adds the "
          "comparison here (sizes, Criterion, cold start, peak RSS).")
        w("")
    if o3 and (o3.get("process") or o3.get("sizes")):
        w("## opt-level \"z\" (deployed) vs 3")
        w("")
        o3p = o3.get("process") or {"functions": {}, "invocations": 0}
        o3i = o3.get("inprocess") or {"scenarios": {}}
        w("Same code and settings, `CARGO_PROFILE_RELEASE_OPT_LEVEL=3` (separate target dir). "
          f"The opt-level 3 warm run has {o3p['invocations']} invocations; empty cells were "
          "not measured in this run.")
        w("")
        w("| figure | opt \"s\" | opt 3 | change |")
        w("| --- | --- | --- | --- |")

        def row(label, a, b, fmt, unit):
            if a is None or b is None:
                w(f"| {label} | {fmt(a)} {unit} | {fmt(b)} {unit} | |")
                return
            w(f"| {label} | {fmt(a)} {unit} | {fmt(b)} {unit} | {100 * (b - a) / a:+.0f} % |")

        def crit(r, k):
            c = r["criterion"][k]
            return c["median_ms"] if c else None

        row("overhead: inbound call (Criterion median)", crit(s, "call"), crit(o3, "call"), f3, "ms")
        row("overhead: create(2) (Criterion median)", crit(s, "create2"), crit(o3, "create2"), f3, "ms")
        row("number choice 5,000 / 1,000 in all / 50", crit(s, "choice_in_all"), crit(o3, "choice_in_all"), f3, "ms")
        row("number choice 5,000 / 1,000 per participant / 50", crit(s, "choice"), crit(o3, "choice"), f3, "ms")
        row("create(2) p50, 50 ms emulator latency", lat("create_2"),
            o3i["scenarios"].get("create_2", {}).get("latency_ms", {}).get("p50"), f1, "ms")
        for f in FUNCTIONS:
            a = fn.get(f, {}).get("cold", {}).get("init_ms", {}).get("p50")
            b = o3p["functions"].get(f, {}).get("cold", {}).get("init_ms", {}).get("p50")
            row(f"cold start init p50, {f}", a, b, f1, "ms")
        for f in FUNCTIONS:
            a = fn.get(f, {}).get("cold", {}).get("first_response_ms", {}).get("p50")
            b = o3p["functions"].get(f, {}).get("cold", {}).get("first_response_ms", {}).get("p50")
            row(f"cold start first response p50, {f}", a, b, f1, "ms")
        for f in FUNCTIONS:
            a = fn.get(f, {}).get("warm", {}).get("memory_kib", {}).get("vm_hwm_at_checkpoint")
            b = o3p["functions"].get(f, {}).get("warm", {}).get("memory_kib", {}).get("vm_hwm_at_checkpoint")
            row(f"peak RSS (VmHWM, 1,000 invocations), {f}", a and a / 1024, b and b / 1024, f2, "MiB")
        for f in FUNCTIONS:
            a = (s["sizes"] or {"functions": {}})["functions"].get(f, {}).get("arm64_bootstrap_bytes")
            b = (o3["sizes"] or {"functions": {}})["functions"].get(f, {}).get("arm64_bootstrap_bytes")
            row(f"arm64 bootstrap, {f}", a and a / MIB, b and b / MIB, f2, "MiB")
        for f in FUNCTIONS:
            a = (s["sizes"] or {"functions": {}})["functions"].get(f, {}).get("arm64_zip_bytes")
            b = (o3["sizes"] or {"functions": {}})["functions"].get(f, {}).get("arm64_zip_bytes")
            row(f"arm64 zip, {f}", a and a / MIB, b and b / MIB, f2, "MiB")
        w("")

    pn = ip.get("phonenumber_first_use", {})
    values = {
        "phonenumber_first_ms": f1(pn.get("first_ms")),
        "phonenumber_second_ms": f3(pn.get("second_ms")),
        "ssm_rt_ms": f1(ssm_rt),
        "base_init_ms": f1(base_init),
        "init_target_ms": f1(init_target),
        "create50_p50_ms": f1(lat("create_50")),
        "choice_ms": f2(c_choice and c_choice["median_ms"]),
        "choice_per_participant_ms": f2(c_choice and c_choice["median_ms"] / 50),
        "choice_in_all_ms": f3(c_choice_all and c_choice_all["median_ms"]),
    }
    values.update(busy_note_values(busy))
    text = notes_text(values)
    if text:
        w(text)
        w("")
    return "\n".join(L) + "\n"


def quick_summary(art):
    ip = load(os.path.join(art, "s", "inprocess.json"))
    pr = load(os.path.join(art, "s", "process.json"))
    if not ip or not pr:
        sys.exit("report.py: quick results are missing")
    checks = 0
    for name, r in ip["scenarios"].items():
        rts = r["round_trips"]
        print(f"  {name}: {rts['min']}-{rts['max']} round trips, {r['requests']['max']} requests")
        checks += 1 if r.get("expected_round_trips") is not None else 0
    for f, e in pr["functions"].items():
        wm = e["warm"]
        print(f"  {f}: SSM per start {e['cold']['ssm_requests_per_start']['max']}, "
              f"warm SSM {wm['ssm_requests_warm']}, Twilio connections {wm['twilio_connections_total']} "
              f"(bound {2 * wm['max_parallel_twilio_requests']}), peak RSS {wm['memory_kib']['vm_hwm_end'] / 1024:.1f} MiB (debug build)")
        checks += 3
    busy = load(os.path.join(art, "s", "busy.json"))
    if not busy:
        sys.exit("report.py: quick results of bench-harness busy are missing")
    for r in busy["runs"]:
        off, on = r["off"], r["on"]
        print(f"  busy k={r['k']}: index off: call {span(off['call']['round_trips'])} round trips, "
              f"create {span(off['create']['round_trips'])}; index on: call {span(on['call']['round_trips'])} "
              f"round trip + {span(on['call']['index_requests'])} index read, create {span(on['create']['round_trips'])} "
              f"round trips ({span(on['create']['index_requests'])} index requests)")
        checks += 4
    cold = load(os.path.join(art, "s", "cold.json"))
    if not cold:
        sys.exit("report.py: quick results of bench-harness cold are missing")
    for f, e in cold["functions"].items():
        a = e["after"]
        print(f"  cold over TLS {f}: Twilio connections in init {span(a['twilio_connections_init'])}, "
              f"in the first invocation {span(a['twilio_connections_first_invocation'])}")
        checks += 2
    failures = ip["failures"] + pr["failures"] + busy["failures"] + cold["failures"]
    if failures:
        for f in failures:
            print(f"  FAILED: {f}")
        sys.exit(1)
    print(f"bench quick: all counts as expected ({checks} checks); timings not asserted, BENCHMARKS.md untouched")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--artifacts")
    p.add_argument("--out")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--command", default="bash bench/run.sh")
    p.add_argument("--elapsed", type=float)
    p.add_argument("--sizes")
    p.add_argument("--variant", default="s")
    p.add_argument("--functions", default=" ".join(FUNCTIONS))
    p.add_argument("--hello")
    p.add_argument("--busy-only", action="store_true")
    p.add_argument("--cold-only", action="store_true")
    p.add_argument("--busy-before-after", action="store_true")
    p.add_argument("--before-name", default="")
    a = p.parse_args()
    if a.sizes:
        json.dump(sizes(a.sizes, a.variant, a.functions.split(), a.hello), sys.stdout, indent=2)
        print()
        return
    if a.quick:
        quick_summary(a.artifacts)
        return
    if a.busy_only:
        splice_busy(a.artifacts, a.out, a.command.strip())
        return
    if a.cold_only:
        splice_cold(a.artifacts, a.out, a.command.strip(), a.before_name)
        return
    if a.busy_before_after:
        splice_before_after(a.artifacts, a.out, a.command.strip(), a.before_name)
        return
    text = build_report(a.artifacts, a.command.strip(), a.elapsed, a.before_name)
    with open(a.out, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
