# SPDX-License-Identifier: ISC
"""Medians, ratios and targets of a bench/run result, and its tables.

summarize() adds to the result (in place) each scenario's per-target medians, the ratios
candidate/reference (weir/PgBouncer; PgBouncer-B/PgBouncer in a noise run),
candidate/direct and, in a run with --weir-base, candidate/baseline (weir/weir-base), the
range of the per-repeat ratios, and the issue's targets met or missed. render() turns a
summarized result into plain-text or Markdown tables.
"""

import statistics

METRICS = ("tps", "lat_avg_ms", "p50_ms", "p99_ms", "p999_ms", "max_ms", "cpu_us", "cpu_user_us",
           "cpu_kernel_us", "syscalls_per", "switches_per", "conn_ms",
           "bytes_per_client", "rss_before_kb", "rss_after_kb", "rss_after_close_kb", "login_s",
           "cpu_ms_per_s", "alone_tps", "alone_p50_ms", "alone_p99_ms", "alone_cpu_ms_per_s",
           "p50_storm_over_alone", "p99_storm_over_alone", "storm_logins_per_s", "storm_failed")

# The targets: (id, text, goal text, test)
TARGETS = [
    ("cpu_select", "pooler CPU per transaction, select-only, every protocol and client count",
     "<= 0.75"),
    ("tps_500", "TPS, select-only at 500 clients", ">= 1.10"),
    ("tps_other", "TPS, every other scenario", ">= 1.00"),
    ("rss_idle", "RSS per idle client", "<= 0.75"),
    ("p99_fair", "p99 latency at 2,000 clients, and weir's p99/p50 <= 1.3", "<= 1.00"),
    ("cpu_churn", "pooler CPU per new connection, churn with SCRAM secrets", "<= 0.6"),
]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def _goal(group, measure, value, op, limit):
    met = None if value is None else (value <= limit if op == "<=" else value >= limit)
    return {"target": group, "measure": measure, "value": value, "goal": f"{op} {limit}",
            "met": met}


def summarize(data):
    cand, ref = data["meta"]["candidate"], data["meta"]["reference"]
    base = data["meta"].get("baseline")
    others = [(ref, "ref"), ("direct", "direct")] + ([(base, "base")] if base else [])
    for name, entry in data["scenarios"].items():
        runs = entry["runs"]
        med = {}
        for target in entry["targets"]:
            mine = [r for r in runs if r["target"] == target]
            if not mine:
                continue
            med[target] = {m: _median(r.get(m) for r in mine) for m in METRICS}
            med[target] = {k: v for k, v in med[target].items() if v is not None}
            med[target]["runs"] = len(mine)
            med[target]["failed"] = sum(r.get("failed") or 0 for r in mine)
            med[target]["errors"] = sum(1 for r in mine if r.get("error"))
        entry["median"] = med
        ratios = {}
        spread = {}
        for other, key in others:
            if cand not in med or other not in med:
                continue
            ratios[key] = {m: _ratio(med[cand].get(m), med[other].get(m)) for m in METRICS}
            ratios[key] = {k: round(v, 3) for k, v in ratios[key].items() if v is not None}
            spread_metrics = ["tps", "cpu_us", "p99_ms", "bytes_per_client"]
            if key == "base":
                spread_metrics += ["p50_ms", "cpu_user_us", "cpu_kernel_us"]
            for m in spread_metrics:
                per_repeat = []
                for rep in sorted({r["repeat"] for r in runs}):
                    a = [r.get(m) for r in runs if r["target"] == cand and r["repeat"] == rep]
                    b = [r.get(m) for r in runs if r["target"] == other and r["repeat"] == rep]
                    if a and b and _ratio(a[0], b[0]) is not None:
                        per_repeat.append(round(_ratio(a[0], b[0]), 3))
                if per_repeat:
                    spread.setdefault(key, {})[m] = [min(per_repeat), max(per_repeat)]
        entry["ratios"] = ratios
        entry["ratio_range"] = spread
        if "direct" in med:
            base = med["direct"]
            entry["added_latency_us"] = {
                t: {"p50": round((med[t]["p50_ms"] - base["p50_ms"]) * 1000, 1)
                    if "p50_ms" in med[t] and "p50_ms" in base else None,
                    "avg": round((med[t]["lat_avg_ms"] - base["lat_avg_ms"]) * 1000, 1)
                    if "lat_avg_ms" in med[t] and "lat_avg_ms" in base else None}
                for t in med if t != "direct"}
        entry["goals"] = _goals(name, entry, cand)
    data["targets"] = _targets(data)


def _goals(name, entry, cand):
    r = entry["ratios"].get("ref", {})
    if not r:
        return []
    goals = []
    if name.startswith("select-"):
        goals.append(_goal("cpu_select", "CPU/xact", r.get("cpu_us"), "<=", 0.75))
        if name.endswith("-c500"):
            goals.append(_goal("tps_500", "TPS", r.get("tps"), ">=", 1.10))
        else:
            goals.append(_goal("tps_other", "TPS", r.get("tps"), ">=", 1.00))
    elif entry["kind"] == "idle":
        goals.append(_goal("rss_idle", "RSS/client", r.get("bytes_per_client"), "<=", 0.75))
    elif entry["kind"] == "storm":
        return goals  # the issue sets no figure for it: the table shows the ratios
    else:
        goals.append(_goal("tps_other", "TPS", r.get("tps"), ">=", 1.00))
    if name.startswith("fairness"):
        goals.append(_goal("p99_fair", "p99", r.get("p99_ms"), "<=", 1.00))
        m = entry["median"].get(cand, {})
        own = _ratio(m.get("p99_ms"), m.get("p50_ms"))
        goals.append(_goal("p99_fair", "own p99/p50", None if own is None else round(own, 3),
                           "<=", 1.3))
    if name.startswith("churn-scram"):
        goals.append(_goal("cpu_churn", "CPU/conn", r.get("cpu_us"), "<=", 0.6))
    return goals


def _targets(data):
    out = []
    for tid, text, goal in TARGETS:
        rows = [dict(g, scenario=name) for name, e in data["scenarios"].items()
                for g in e.get("goals", []) if g["target"] == tid]
        known = [g for g in rows if g["met"] is not None]
        if not rows:
            met = None
        elif len(known) < len(rows):
            met = False if any(g["met"] is False for g in known) else None
        else:
            met = all(g["met"] for g in known)
        out.append({"id": tid, "measure": text, "goal": goal, "met": met,
                    "rows": [{k: g[k] for k in ("scenario", "measure", "value", "goal", "met")}
                             for g in rows]})
    return out


# --- rendering --------------------------------------------------------------------------


def _f(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _range(entry, key, metric):
    lo_hi = entry.get("ratio_range", {}).get(key, {}).get(metric)
    if not lo_hi or lo_hi[0] == lo_hi[1]:
        return ""
    return f" ({lo_hi[0]:.2f}–{lo_hi[1]:.2f})"


def _table(headers, rows, markdown):
    rows = [[str(c) for c in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _verdict(met):
    return {True: "met", False: "MISSED", None: "n/a"}[met]


def render(data, markdown=False):
    meta = data["meta"]
    c, r = meta["candidate"], meta["reference"]
    cs, rs = ("weir", "pgb") if c == "weir" else ("pgb-B", "pgb-A")
    noise = meta["mode"].startswith("noise")
    out = []
    head = (f"{meta['mode']} run, {meta['date']}: {meta['nproc']} CPUs ({meta['cpu_model']}), "
            f"{meta['repeats']} repeat(s) x {meta['duration_s']} s, medians; "
            f"{meta.get('weir_version') or ''} {meta['pgbouncer_version']}; "
            f"commit {meta['git_commit']}{' (src modified)' if meta['git_dirty'] else ''}; "
            f"took {meta['runtime_s']} s")
    base = meta.get("baseline")
    if base:
        head += (f"; weir-base: {meta.get('weir_base_version')}"
                 + (f", commit {meta['weir_base_rev']}" if meta.get("weir_base_rev") else "")
                 + f" ({meta.get('weir_base_bin')})")
    out.append(head)
    out.append("")
    rows = []
    for name, e in data["scenarios"].items():
        if e["kind"] != "pgbench":
            continue
        m, ra, rd = e["median"], e["ratios"].get("ref", {}), e["ratios"].get("direct", {})
        get = lambda t, k: m.get(t, {}).get(k)  # noqa: E731
        goals = ", ".join(f"{g['measure']} {_verdict(g['met'])}" for g in e["goals"])
        if noise:
            goals = "(noise run)"
        busy = _median(e.get("background_busy") or [])
        per = "conn" if e["per"] == "connection" else "xact"
        rows.append([
            name, _f(get(c, "tps"), 0), _f(get(r, "tps"), 0) if r in m else "n/a",
            _f(get("direct", "tps"), 0) if "direct" in m else "–",
            _f(ra.get("tps")) + _range(e, "ref", "tps"), _f(rd.get("tps")),
            _f(get(c, "p99_ms"), 3), _f(get(r, "p99_ms"), 3) if r in m else "n/a",
            _f(ra.get("p99_ms")),
            f"{_f(get(c, 'cpu_us'), 1)}/{per}",
            _f(get(r, "cpu_us"), 1) if r in m else "n/a",
            _f(ra.get("cpu_us")) + _range(e, "ref", "cpu_us"),
            "–" if busy is None else f"{busy * 100:.0f}%", goals or "–"])
    if rows:
        out.append(_table(["scenario", f"{cs} TPS", f"{rs} TPS", "direct TPS",
                           f"TPS {cs}/{rs} (range)", f"TPS {cs}/direct", f"{cs} p99 ms",
                           f"{rs} p99 ms", f"p99 {cs}/{rs}", f"{cs} CPU µs", f"{rs} CPU µs",
                           f"CPU {cs}/{rs} (range)", "others", "targets"], rows, markdown))
        out.append("")
    if base:
        out += _baseline_tables(data, c, base, markdown)
    split_rows = []
    for name, e in data["scenarios"].items():
        m, ra = e["median"], e["ratios"].get("ref", {})
        if e["kind"] != "pgbench" or "cpu_kernel_us" not in m.get(c, {}):
            continue
        row = [name]
        for t in (c, r):
            tm = m.get(t, {})
            user, kernel = tm.get("cpu_user_us"), tm.get("cpu_kernel_us")
            share = kernel / (user + kernel) * 100 if user is not None and kernel else None
            row += [_f(user, 1), _f(kernel, 1), "–" if share is None else f"{share:.0f}%",
                    _f(tm.get("syscalls_per"), 1), _f(tm.get("switches_per"), 2)]
        split_rows.append(row + [_f(ra.get("cpu_user_us")), _f(ra.get("cpu_kernel_us"))])
    if split_rows:
        heads = ["scenario"]
        for t in (cs, rs):
            heads += [f"{t} user µs", f"{t} kernel µs", f"{t} kernel share", f"{t} syscalls",
                      f"{t} switches"]
        out.append(_table(heads + [f"user {cs}/{rs}", f"kernel {cs}/{rs}"], split_rows,
                          markdown))
        out.append("")
    lat_rows = []
    for name, e in data["scenarios"].items():
        if not (name.startswith("latency") or name.startswith("fairness")):
            continue
        for t, m in e["median"].items():
            added = e.get("added_latency_us", {}).get(t, {})
            own = (m.get("p99_ms") or 0) / m["p50_ms"] if m.get("p50_ms") else None
            lat_rows.append([name, t, _f(m.get("p50_ms"), 3), _f(m.get("p99_ms"), 3),
                             _f(m.get("p999_ms"), 3), _f(m.get("max_ms"), 1), _f(own),
                             _f(added.get("p50"), 1) if added else "–"])
    if lat_rows:
        out.append(_table(["scenario", "target", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
                           "p99/p50", "µs added over direct (p50)"], lat_rows, markdown))
        out.append("")
    storm_rows = []
    for name, e in data["scenarios"].items():
        if e["kind"] != "storm":
            continue
        for t, m in e["median"].items():
            storm_rows.append([name, t, _f(m.get("alone_p50_ms"), 3), _f(m.get("alone_p99_ms"), 3),
                               _f(m.get("p50_ms"), 3), _f(m.get("p99_ms"), 3),
                               _f(m.get("p50_storm_over_alone")), _f(m.get("p99_storm_over_alone")),
                               _f(m.get("alone_tps"), 0), _f(m.get("tps"), 0),
                               _f(m.get("storm_logins_per_s"), 0), _f(m.get("storm_failed"), 0),
                               _f(m.get("alone_cpu_ms_per_s"), 0), _f(m.get("cpu_ms_per_s"), 0)])
        ra = e["ratios"].get("ref", {})
        if ra:
            storm_rows.append([name, f"{cs}/{rs}"] + [_f(ra.get(k)) for k in (
                "alone_p50_ms", "alone_p99_ms", "p50_ms", "p99_ms", "p50_storm_over_alone",
                "p99_storm_over_alone", "alone_tps", "tps", "storm_logins_per_s")]
                + ["", _f(ra.get("alone_cpu_ms_per_s")), _f(ra.get("cpu_ms_per_s"))])
    if storm_rows:
        out.append(_table(["scenario", "target", "alone p50 ms", "alone p99 ms", "storm p50 ms",
                           "storm p99 ms", "p50 storm/alone", "p99 storm/alone", "alone TPS",
                           "storm TPS", "storm logins/s", "failed logins",
                           "pooler CPU ms/s alone", "pooler CPU ms/s storm"], storm_rows,
                          markdown))
        out.append("")
    idle_rows = []
    for name, e in data["scenarios"].items():
        if e["kind"] != "idle":
            continue
        for t, m in e["median"].items():
            idle_rows.append([name, t, f"{e['clients']:,}", _f(m.get("rss_before_kb"), 0),
                              _f(m.get("rss_after_kb"), 0), _f(m.get("bytes_per_client"), 0),
                              _f(m.get("rss_after_close_kb"), 0), _f(m.get("cpu_us"), 1),
                              _f(m.get("login_s"), 1)])
        ra = e["ratios"].get("ref", {})
        idle_rows.append([name, f"{cs}/{rs}", "", "", "", _f(ra.get("bytes_per_client")), "",
                          _f(ra.get("cpu_us")), ""])
        rb = e["ratios"].get("base")
        if rb:
            idle_rows.append([name, f"{cs}/base", "", "", "", _f(rb.get("bytes_per_client")),
                              "", _f(rb.get("cpu_us")), ""])
    if idle_rows:
        out.append(_table(["scenario", "target", "clients", "RSS before kB", "RSS held kB",
                           "bytes/client", "RSS after close kB", "CPU µs/login", "login s"],
                          idle_rows, markdown))
        out.append("")
    t_rows = []
    for t in data["targets"]:
        known = [g for g in t["rows"] if g["value"] is not None]
        if not known:
            vals = "not run"
        elif len(known) == 1:
            g = known[0]
            vals = f"{_f(g['value'])} ({g['scenario']})"
        else:
            worst = (max if t["goal"].startswith("<") else min)(known, key=lambda g: g["value"])
            best = (min if t["goal"].startswith("<") else max)(known, key=lambda g: g["value"])
            vals = (f"{sum(1 for g in known if g['met'])} of {len(known)} met; "
                    f"worst {_f(worst['value'])} ({worst['scenario']}), "
                    f"best {_f(best['value'])} ({best['scenario']})")
            if t["id"] == "p99_fair":
                vals = ", ".join(f"{g['measure']} {_f(g['value'])}" for g in known)
        t_rows.append([t["measure"], t["goal"], vals, "–" if noise else _verdict(t["met"])])
    title = f"target ({cs}/{rs})"
    if noise:
        title += " [noise run: shows how far apart two identical poolers land]"
    out.append(_table([title, "goal", "measured (ratio)", "result"], t_rows, markdown))
    problems = data.get("errors") or []
    logs = {k: v for k, v in (data.get("pooler_log_problems") or {}).items() if v["count"]}
    if problems or logs:
        out.append("")
        out.append("problems seen:")
        for p in problems:
            out.append(f"  {p['where']}: {p['what']}")
            for line in (p.get("log") or [])[:5]:
                out.append(f"      {line}")
        for name, v in logs.items():
            out.append(f"  {name} log: {v['count']} warning/error lines, first: ")
            for line in v["first"][:5]:
                out.append(f"      {line}")
    return "\n".join(out)


def _baseline_tables(data, c, base, markdown):
    """The candidate against the baseline weir (--weir-base): figures and ratios per
    scenario, then the CPU ratio over the scenarios, as lines for render()."""
    rows, cpu = [], []
    for name, e in data["scenarios"].items():
        m, rb = e["median"], e["ratios"].get("base", {})
        if e["kind"] != "pgbench" or base not in m:
            continue
        get = lambda t, k: m.get(t, {}).get(k)  # noqa: E731
        per = "conn" if e["per"] == "connection" else "xact"
        busy = _median(e.get("background_busy") or [])
        if rb.get("cpu_us") is not None and per == "xact":
            cpu.append((rb["cpu_us"], name))
        rows.append([
            name, _f(get(c, "tps"), 0), _f(get(base, "tps"), 0),
            _f(rb.get("tps")) + _range(e, "base", "tps"),
            f"{_f(get(c, 'cpu_us'), 1)}/{per}", _f(get(base, "cpu_us"), 1),
            _f(rb.get("cpu_us")) + _range(e, "base", "cpu_us"),
            _f(rb.get("cpu_user_us")), _f(rb.get("cpu_kernel_us")),
            _f(get(c, "p50_ms"), 3), _f(get(base, "p50_ms"), 3), _f(rb.get("p50_ms")),
            _f(get(c, "p99_ms"), 3), _f(get(base, "p99_ms"), 3),
            _f(rb.get("p99_ms")) + _range(e, "base", "p99_ms"),
            "–" if busy is None else f"{busy * 100:.0f}%"])
    if not rows:
        return []
    out = [f"{c} against the baseline weir ({base}), medians; (range) = per-repeat ratios:", ""]
    out.append(_table(["scenario", f"{c} TPS", "base TPS", f"TPS {c}/base (range)",
                       f"{c} CPU µs", "base CPU µs", f"CPU {c}/base (range)",
                       f"user {c}/base", f"kernel {c}/base", f"{c} p50 ms", "base p50 ms",
                       f"p50 {c}/base", f"{c} p99 ms", "base p99 ms",
                       f"p99 {c}/base (range)", "others"], rows, markdown))
    out.append("")
    if cpu:
        cpu.sort()
        out.append(f"CPU per transaction {c}/base over {len(cpu)} scenarios: median "
                   f"{_f(_median([v for v, _ in cpu]), 3)}, from {_f(cpu[0][0], 3)} "
                   f"({cpu[0][1]}) to {_f(cpu[-1][0], 3)} ({cpu[-1][1]})")
        out.append("")
    return out


def run_summary(run):
    if "bytes_per_client" in run:
        return (f"{run.get('logged_in')} clients, {run['bytes_per_client']:.0f} bytes/client, "
                f"{run.get('login_failed')} failed")
    parts = [f"{run.get('tps', 0):,.0f} tps"]
    if "p99_ms" in run:
        parts.append(f"p50 {run['p50_ms']:.3f} p99 {run['p99_ms']:.3f} ms")
    if "alone_p99_ms" in run:
        parts.append(f"alone: p50 {run['alone_p50_ms']:.3f} p99 {run['alone_p99_ms']:.3f} ms")
    if "storm_logins_per_s" in run:
        parts.append(f"storm {run['storm_logins_per_s']:.0f} logins/s "
                     f"({run['storm_failed']} failed)")
    if "cpu_us" in run:
        parts.append(f"cpu {run['cpu_us']:.1f} µs")
    if run.get("error"):
        parts.append("ERROR: " + "; ".join(run["error"])[:200])
    return ", ".join(parts)
