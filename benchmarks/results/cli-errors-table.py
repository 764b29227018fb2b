#!/usr/bin/env python3
"""Turns the rows of cli-errors.sh (stdin: command, exit status, output joined by CR) into the
Markdown table of cli-errors.md (stdout). The message is the `leviathan:` line (prefix dropped),
or, for a successful `info`, the oneDNN line it printed (the launcher's "building" notice is skipped). A bad input that exits 0 is a finding,
except the `info` cases, which must report and exit 0. Long tiny-run options become <tiny>.
Usage: benchmarks/results/cli-errors.sh DIR | benchmarks/results/cli-errors-table.py DIR"""
import sys

scratch = sys.argv[1].rstrip("/") + "/" if len(sys.argv) > 1 else None
TINY = "--n-layer 1 --n-embd 16 --n-head 2 --block-size 16 --steps 2 --threads 1 --backend java --sample-tokens 0"
print("| # | command | exit | message |")
print("|---|---|---|---|")
for i, line in enumerate([l for l in sys.stdin.read().split("\n") if l], 1):
    cmd, code, out = (line.split("\t") + ["", ""])[:3]
    lines = out.split("\r")
    msg = next((l[len("leviathan: "):] for l in lines if l.startswith("leviathan: ") and not l.startswith("leviathan: building")), None)
    words = cmd.split()
    is_info = "info" in words and "--bogus" not in words
    ok = is_info or "--version" in words or "--overwrite" in words and code == "0" and "goodcopy" in words
    if msg is None:
        msg = lines[0].strip() if (is_info or code == "-") and lines[0].strip() else "(nothing: accepted)"
        if ok and not is_info and code == "0": msg = "(accepted, as it should be)"
    if scratch:
        msg = msg.replace(scratch, "")
    cmd = cmd.replace("good/model.safetensors", "$M").replace(TINY, "<tiny>")
    finding = code == "0" and not ok
    print(f"| {i} | `{cmd}` | {code}{' **finding**' if finding else ''} | {msg.replace('|', '&#124;')} |")
