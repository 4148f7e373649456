#!/usr/bin/env python3
"""Prints the median of every `verify/*` benchmark and its ratio to tower-http's static check,
read from criterion's output (run `cargo bench --bench verify` first)."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion/verify")
names = ["bare", "tower_http_static", "hit_bearer", "hit_basic", "miss_memory", "bad_checksum"]
medians = {}
for name in names:
    path = root / name / "new" / "estimates.json"
    if path.exists():
        medians[name] = json.loads(path.read_text())["median"]["point_estimate"]
base = medians.get("tower_http_static")
for name, ns in medians.items():
    ratio = f"{ns / base:6.2f}x tower_http_static" if base else ""
    print(f"verify/{name:<18} median {ns:10.1f} ns   {ratio}")
