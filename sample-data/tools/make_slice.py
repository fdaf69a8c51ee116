#!/usr/bin/env python3
"""Writes demo/slice.ndjson: a small, deterministic set of dossier lifecycles
(submitted -> accepted -> processing -> resolved) in a few provinces, used by
`govpulse serve` as its embedded default until the seeded Rust generator
(`govpulse generate`) replaces it for larger runs."""
import csv, json, random, datetime, os

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20251120)
units = list(csv.DictReader(open(os.path.join(here, "..", "reference", "administrative-units-2025.csv"), encoding="utf-8")))
communes = {}
for u in units:
    if u["level"] == "commune":
        communes.setdefault(u["parent_code"], []).append(u["code"])
provinces = ["01", "79", "48", "31", "92", "38", "40", "22", "66", "96"]
online_share = {p: 0.35 + 0.05 * i for i, p in enumerate(provinces)}
tz = datetime.timezone(datetime.timedelta(hours=7))
start = datetime.datetime(2025, 11, 20, 8, 0, tzinfo=tz)
procs = ["1.001757", "1.001193", "2.000889", "1.004227", "2.001023"]
out = []
n = 0
for i in range(120):
    p = provinces[i % len(provinces)]
    unit = rng.choice(communes[p])
    t = start + datetime.timedelta(seconds=rng.randrange(0, 30 * 60))
    did = f"H{p}.{i:05d}"
    online = rng.random() < online_share[p]
    base = {"kind": "dossier", "unit": unit, "dossier_id": did, "procedure_code": rng.choice(procs)}
    n += 1
    out.append(dict(base, event_id=f"slice-{n}", occurred_at=t.isoformat(), status="submitted"))
    t2 = t + datetime.timedelta(minutes=rng.randrange(1, 20))
    due = (t2 + datetime.timedelta(days=3)).replace(hour=16, minute=30, second=0)
    n += 1
    out.append(dict(base, event_id=f"slice-{n}", occurred_at=t2.isoformat(), status="accepted",
                    channel="online" if online else "counter", due_at=due.isoformat(),
                    reused_data=rng.random() < 0.2, from_citizen_store=rng.random() < 0.1))
out.sort(key=lambda e: e["occurred_at"])
with open(os.path.join(here, "..", "demo", "slice.ndjson"), "w", encoding="utf-8") as f:
    for e in out:
        f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
print(len(out), "events")
