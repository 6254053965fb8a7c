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

COLORS = {"batch": "#1b9e77", "serial": "#d95f02", "kernel": "#7570b3"}


def load(out):
    rows = list(csv.DictReader((out / "results.csv").open()))
    meta = dict(line.split(" ", 1) for line in (out / "meta.txt").read_text().splitlines() if " " in line)
    return rows, meta


def table(rows, meta):
    lines = [
        f"batchpoke bench: {meta.get('cpus', '?')} vCPUs, Linux {meta.get('kernel', '?')}, "
        f"{meta.get('accel', '?')}, {meta.get('reps', '?')} on/off repetitions per cell ({meta.get('date', '')})",
        "",
        f"{'K':>3} {'S':>4} {'sites':>6}  {'variant':<7} {'rounds/flip':>11} {'IPIs/flip':>9} "
        f"{'median ms':>10} {'p90 ms':>9} {'int3 hits':>9} {'max stall ms':>12}",
    ]
    for r in rows:
        k, s = int(r["keys"]), int(r["sites_per_key"])
        rounds = r["rounds_per_flip"] or "-"
        lines.append(
            f"{k:>3} {s:>4} {k * s:>6}  {r['variant']:<7} {rounds:>11} {float(r['ipis_per_flip']):>9.1f} "
            f"{int(r['median_ns']) / 1e6:>10.2f} {int(r['p90_ns']) / 1e6:>9.2f} {r['int3_hits']:>9} "
            f"{int(r['max_stall_ns']) / 1e6:>12.2f}"
        )
    # Ratios the targets are about.
    lines.append("")
    by = {(r["variant"], int(r["keys"]), int(r["sites_per_key"])): r for r in rows}
    for (v, k, s), r in sorted(by.items()):
        if v != "batch" or ("kernel", k, s) not in by:
            continue
        kern = by[("kernel", k, s)]
        ipi_ratio = float(kern["ipis_per_flip"]) / max(float(r["ipis_per_flip"]), 1e-9)
        time_ratio = int(kern["median_ns"]) / max(int(r["median_ns"]), 1)
        lines.append(
            f"K={k:<2} S={s:<3}: kernel/batchpoke IPIs per flip {ipi_ratio:6.1f}x, median time {time_ratio:6.2f}x"
        )
    return "\n".join(lines) + "\n"


def svg(rows, meta):
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
    first, _, rest = text.partition("\n\n")
    table_part, _, ratios = rest.partition("\n\n")
    block = (
        f"{meta.get('cpus', '?')} vCPUs, Linux {meta.get('kernel', '?')}, {meta.get('accel', '?')}, "
        f"{meta.get('reps', '?')} on/off repetitions per cell, run {meta.get('date', '?')}; "
        "``plot.svg`` plots IPIs per flip and median time per flip against total sites, "
        "one line per variant::\n\n"
        + "".join(f"    {line}\n" for line in table_part.splitlines())
        + "\nKernel path over batchpoke, same cell::\n\n"
        + "".join(f"    {line}\n" for line in ratios.strip().splitlines())
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
