#!/usr/bin/env python3
"""Top SASS lines of an `ncu --page source --csv --print-source sass` export,
by warp-stall samples: ncu_top.py FILE [N]."""
import csv, io, sys

path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
text = open(path, errors="replace").read()
lines = text.splitlines()
start = next((i for i, l in enumerate(lines) if '"Source"' in l or l.startswith('"#"') or '"Address"' in l), None)
if start is None:
    print("no table found; head:\n" + "\n".join(lines[:20]))
    sys.exit(0)
rows = list(csv.reader(io.StringIO("\n".join(lines[start:]))))
head = rows[0]
print("columns:", head)
def col(name):
    for i, h in enumerate(head):
        if h.strip().lower() == name.lower():
            return i
    for i, h in enumerate(head):
        if name.lower() in h.lower():
            return i
    return None
src = col("Source")
stall = col("Warp Stall Sampling (All Samples)")
execd = col("Instructions Executed")
def num(x):
    try:
        return float(x.replace(",", ""))
    except Exception:
        return 0.0
data = [r for r in rows[1:] if len(r) == len(head)]
total = sum(num(r[stall]) for r in data) if stall is not None else 0
tot_ex = sum(num(r[execd]) for r in data) if execd is not None else 0
print(f"{len(data)} SASS lines, stall samples {total:.0f}, instructions executed {tot_ex:.0f}")
key = stall if stall is not None else execd
for r in sorted(data, key=lambda r: -num(r[key]))[:n]:
    s = num(r[stall]) if stall is not None else 0
    e = num(r[execd]) if execd is not None else 0
    print(f"{100*s/max(total,1):5.1f}% stall {100*e/max(tot_ex,1):5.1f}% exec  {r[src][:110]}")
