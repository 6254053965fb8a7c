#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns a bench results directory (results.csv, meta.txt) into table.txt
and plot.svg, and prints the table; given an rst file too, rewrites its
results block. Standard library only.

    bench_report.py RESULTS_DIR [DOC.rst]
"""

import csv
import sys
from pathlib import Path

COLORS = {"batch": "#1b9e77", "static": "#66a61e", "serial": "#d95f02", "kernel": "#7570b3"}


def load(out):
    runs = list(csv.DictReader((out / "results.csv").open()))
    meta = dict(line.split(" ", 1) for line in (out / "meta.txt").read_text().splitlines() if " " in line)
    return aggregate(runs), meta


def median(values):
    v = sorted(values)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2 if n else 0.0


def aggregate(runs):
    """One row per (vCPUs, variant, cell) from the runs of every repetition.

    Per run: raw = CAL / flips; tlb = TLB / flips (shootdowns arrive as
    function-call IPIs, so CAL counts them too); net = (CAL - TLB - own) /
    flips, where own is CAL - TLB of the idle run of the same repetition
    (everything a run does but flip: the measurement's own IPIs). Per row:
    the median over repetitions, and the spread (min, max) of raw."""
    idle = {}
    for r in runs:
        if r["variant"] == "idle":
            idle[(r["cpus"], r["keys"], r["sites_per_key"], r["rep"])] = int(r["cal"]) - int(r["tlb"])
    groups = {}
    for r in runs:
        key = (int(r["cpus"]), r["variant"], int(r["keys"]), int(r["sites_per_key"]))
        groups.setdefault(key, []).append(r)
    rows = []
    for (cpus, variant, k, s), rs in sorted(groups.items(), key=lambda i: (i[0][0], i[0][3], i[0][2], ORDER.index(i[0][1]))):
        raw, tlb, net, rounds = [], [], [], []
        for r in rs:
            f = int(r["flips"])
            own = idle.get((r["cpus"], r["keys"], r["sites_per_key"], r["rep"]), 0)
            raw.append(int(r["cal"]) / f)
            tlb.append(int(r["tlb"]) / f)
            net.append((int(r["cal"]) - int(r["tlb"]) - own) / f)
            rounds.append(int(r["rounds"]) / f)
        rows.append(
            {
                "cpus": cpus,
                "variant": variant,
                "keys": k,
                "sites_per_key": s,
                "reps": len(rs),
                "flips": sum(int(r["flips"]) for r in rs),
                "rounds_per_flip": median(rounds) if variant in ("batch", "static", "serial") else None,
                "ipis_per_flip": median(raw),
                "ipis_min": min(raw),
                "ipis_max": max(raw),
                "tlb_per_flip": median(tlb),
                "net_per_flip": median(net),
                "median_ns": median(int(r["median_ns"]) for r in rs),
                "p90_ns": median(int(r["p90_ns"]) for r in rs),
                "int3_hits": sum(int(r["int3_hits"]) for r in rs),
                "max_stall_ns": max(int(r["max_stall_ns"]) for r in rs),
            }
        )
    return rows


ORDER = ["idle", "batch", "static", "serial", "kernel"]
WORKLOAD_NAMES = {(1900, 1): "dynamic debug +p", (1, 164): "bpf_stats_enabled", (1, 56): "sched_schedstats"}


def table(rows, meta):
    main = int(meta.get("cpus", "4"))
    lines = [
        f"batchpoke bench: {main} vCPUs, Linux {meta.get('kernel', '?')}, {meta.get('accel', '?')}, "
        f"{meta.get('rounds', '?')} runs per cell and variant of {meta.get('reps', '?')} on/off each "
        f"({meta.get('batch_reps', meta.get('reps', '?'))} for batch, static and idle), "
        f"after a warm-up on/off ({meta.get('date', '')})",
        "",
        f"{'K':>4} {'S':>4} {'sites':>6}  {'variant':<7} {'rounds':>6} {'IPIs/flip':>9} {'(min-max)':>17} "
        f"{'TLB':>5} {'net':>7} {'median ms':>10} {'p90 ms':>9} {'int3 hits':>9} {'stall ms':>8}",
    ]
    for r in rows:
        if r["cpus"] != main or r["variant"] == "idle":
            continue
        k, s = r["keys"], r["sites_per_key"]
        rounds = "-" if r["rounds_per_flip"] is None else f"{r['rounds_per_flip']:.1f}"
        spread = f"({r['ipis_min']:.1f}-{r['ipis_max']:.1f})"
        lines.append(
            f"{k:>4} {s:>4} {k * s:>6}  {r['variant']:<7} {rounds:>6} {r['ipis_per_flip']:>9.1f} {spread:>17} "
            f"{r['tlb_per_flip']:>5.1f} {r['net_per_flip']:>7.1f} {r['median_ns'] / 1e6:>10.2f} "
            f"{r['p90_ns'] / 1e6:>9.2f} {r['int3_hits']:>9} {r['max_stall_ns'] / 1e6:>8.2f}"
        )
    lines.append("")
    by = {(r["cpus"], r["variant"], r["keys"], r["sites_per_key"]): r for r in rows}
    for (c, v, k, s), r in sorted(by.items(), key=lambda i: (i[0][3], i[0][2], ORDER.index(i[0][1]))):
        if c != main or v not in ("batch", "static") or (c, "kernel", k, s) not in by:
            continue
        kern = by[(c, "kernel", k, s)]
        raw = kern["ipis_per_flip"] / max(r["ipis_per_flip"], 1e-9)
        net = kern["net_per_flip"] / max(r["net_per_flip"], 1e-9)
        time = kern["median_ns"] / max(r["median_ns"], 1)
        name = WORKLOAD_NAMES.get((k, s), "")
        lines.append(
            f"K={k:<4} S={s:<3}: kernel/{v:<6} IPIs per flip {raw:6.1f}x raw, {net:6.1f}x net; "
            f"median time {time:6.2f}x{'  (' + name + ')' if name else ''}"
        )
    all_cpus = sorted({r["cpus"] for r in rows})
    if len(all_cpus) > 1:
        lines += ["", "Net IPIs per flip against vCPUs (grid cells):", ""]
        lines.append(f"{'K':>4} {'S':>4}  {'variant':<7} " + " ".join(f"{c:>7}" for c in all_cpus))
        cells = sorted({(r["sites_per_key"], r["keys"]) for r in rows if r["cpus"] != main})
        for s, k in cells:
            for v in ("batch", "static", "serial", "kernel"):
                vals = [by.get((c, v, k, s)) for c in all_cpus]
                if not any(vals):
                    continue
                lines.append(
                    f"{k:>4} {s:>4}  {v:<7} "
                    + " ".join(f"{x['net_per_flip']:>7.1f}" if x else f"{'-':>7}" for x in vals)
                )
    return "\n".join(lines) + "\n"


def svg(rows, meta):
    main = int(meta.get("cpus", "4"))
    rows = [r for r in rows if r["cpus"] == main and r["variant"] != "idle"]
    width, height, pad = 960, 420, 60
    panels = [("ipis_per_flip", "function-call IPIs per flip"), ("median_ns", "median time per flip (ms)")]
    pw = (width - 3 * pad) / 2
    ph = height - 2 * pad
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">batchpoke bench: '
        f'{meta.get("cpus", "?")} vCPUs, Linux {meta.get("kernel", "?")}, {meta.get("accel", "?")} '
        f'(log-log; x = total sites K x S)</text>',
    ]
    import math

    xs = sorted({int(r["keys"]) * int(r["sites_per_key"]) for r in rows})
    xmin, xmax = math.log10(min(xs)), math.log10(max(xs))
    for i, (field, title) in enumerate(panels):
        x0 = pad + i * (pw + pad)
        y0 = pad
        vals = [float(r[field]) / (1e6 if field == "median_ns" else 1) for r in rows]
        vals = [v for v in vals if v > 0]
        ymin, ymax = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
        if ymin == ymax:
            ymax += 1

        def px(x):
            return x0 + (math.log10(x) - xmin) / max(xmax - xmin, 1e-9) * pw

        def py(y):
            return y0 + ph - (math.log10(y) - ymin) / (ymax - ymin) * ph

        out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 8}" text-anchor="middle">{title}</text>')
        for e in range(ymin, ymax + 1):
            y = py(10 ** e)
            out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{y}" y2="{y}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{10 ** e:g}</text>')
        for x in xs:
            out.append(f'<text x="{px(x)}" y="{y0 + ph + 16}" text-anchor="middle">{x}</text>')
        for variant, color in COLORS.items():
            pts = {}
            for r in rows:
                if r["variant"] != variant:
                    continue
                x = int(r["keys"]) * int(r["sites_per_key"])
                v = float(r[field]) / (1e6 if field == "median_ns" else 1)
                # Several (K, S) cells share a total; plot their mean.
                pts.setdefault(x, []).append(v)
            line = [(px(x), py(sum(v) / len(v))) for x, v in sorted(pts.items()) if sum(v) > 0]
            if len(line) > 1:
                d = " ".join(f"{a:.1f},{b:.1f}" for a, b in line)
                out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
            for a, b in line:
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')
    for j, (variant, color) in enumerate(COLORS.items()):
        x = pad + j * 140
        out.append(f'<rect x="{x}" y="{height - 22}" width="14" height="4" fill="{color}"/>')
        out.append(f'<text x="{x + 20}" y="{height - 16}">{variant}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def update_doc(doc, text, meta):
    """Replaces the block between the RESULTS markers of the rst `doc`."""
    body = doc.read_text()
    begin, end = ".. BEGIN RESULTS\n", ".. END RESULTS\n"
    head, rest = body.split(begin, 1)
    _, tail = rest.split(end, 1)
    parts = text.strip("\n").split("\n\n")
    table_part, ratios = parts[1], parts[2]
    scaling = parts[4] if len(parts) > 4 else ""

    def literal(block):
        return "".join(f"    {line}\n" for line in block.splitlines())

    block = (
        f"{meta.get('cpus', '?')} vCPUs, Linux {meta.get('kernel', '?')}, {meta.get('accel', '?')}, "
        f"{meta.get('rounds', '?')} runs per cell and variant of {meta.get('reps', '?')} on/off each "
        f"({meta.get('batch_reps', meta.get('reps', '?'))} for batch and idle) "
        f"after a warm-up on/off, run {meta.get('date', '?')}; "
        "``plot.svg`` plots IPIs per flip and median time per flip against total sites, "
        "one line per variant::\n\n"
        + literal(table_part)
        + "\nKernel path over batchpoke, same cell::\n\n"
        + literal(ratios)
        + (f"\nNet IPIs per flip against vCPUs (grid cells, {meta.get('grid_cpus', '').strip()})::\n\n" + literal(scaling) if scaling else "")
        + "\n"
    )
    doc.write_text(head + begin + "\n" + block + "\n" + end + tail)


def main():
    out = Path(sys.argv[1])
    rows, meta = load(out)
    text = table(rows, meta)
    (out / "table.txt").write_text(text)
    (out / "plot.svg").write_text(svg(rows, meta))
    sys.stdout.write(text)
    if len(sys.argv) > 2:
        update_doc(Path(sys.argv[2]), text, meta)


if __name__ == "__main__":
    main()
