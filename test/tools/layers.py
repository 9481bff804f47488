#!/usr/bin/env python3
"""The units of pg_stream depend on each other in one direction only.

Reads the symbols of the built objects (nm), those the Makefile's OBJS
lists: an object that uses a symbol another unit defines depends on that
unit. A unit is a folder under src/ (src/engine/...) or a file at its top
(src/ddl.c). Fails, naming the symbols, if the units' graph has a cycle,
or if a unit calls one above it in LAYERS (the order src/pg_stream.h
describes); a unit not in LAYERS fails too, so a new one must be placed.
The includes are checked the same way: a file includes no header of a
unit above its own, but for the headers in TYPES_ONLY, which must declare
no function.

usage: layers.py ROOT   (the built source tree)
"""
import os
import re
import subprocess
import sys

# bottom first: each unit may call only the units before it
LAYERS = ["base", "meta", "formats", "sources", "sinks", "engine", "bgw",
          "ddl.c", "pg_stream.c"]

# headers of types only, which units below theirs may include: the
# analysed query (CqDef), which the engine builds and the sinks read
TYPES_ONLY = ["engine/cq.h"]


def unit_of_path(rel):
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else parts[0][:-2] + ".c"


def objects(root):
    """The objects the Makefile builds (its OBJS), not stale ones."""
    text = open(os.path.join(root, "Makefile")).read()
    m = re.search(r"^OBJS\s*=((?:.*\\\n)*.*)$", text, re.M)
    if not m:
        sys.exit("layers: no OBJS in %s/Makefile" % root)
    return [os.path.join(root, o) for o in m.group(1).replace("\\", " ").split()]


def include_problems(root):
    bad = []
    for d, _, files in os.walk(os.path.join(root, "src")):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, os.path.join(root, "src"))
            text = open(path).read()
            if rel in TYPES_ONLY and re.search(r"\bextern\b[^;]*\(", text):
                bad.append("%s is in TYPES_ONLY but declares functions" % rel)
            u = unit_of_path(rel)
            for inc in re.findall(r'^#include "([^"]+)"', text, re.M):
                if not os.path.exists(os.path.join(root, "src", inc)):
                    continue
                v = unit_of_path(inc)
                if (u in LAYERS and v in LAYERS and LAYERS.index(v) > LAYERS.index(u)
                        and inc not in TYPES_ONLY):
                    bad.append("src/%s includes %s, a header of a unit above it" % (rel, inc))
    return bad


def unit_of(root, obj):
    return unit_of_path(os.path.relpath(obj, os.path.join(root, "src")).replace(os.sep, "/"))


def symbols(obj):
    out = subprocess.run(["nm", obj], check=True, capture_output=True,
                         text=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            used.add(f[1])
        elif len(f) == 3 and f[1] in "TDBRC":
            defined.add(f[2])
    return defined, used


def cycles(units, edges):
    """Strongly connected components of more than one unit (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for u in sorted(units):
        if u not in index:
            visit(u)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    objs = objects(root)
    missing = [o for o in objs if not os.path.exists(o)]
    if missing:
        sys.exit("layers: %s not built: build first" % ", ".join(missing))
    owner, uses = {}, []
    for o in sorted(objs):
        u = unit_of(root, o)
        defined, used = symbols(o)
        for s in defined:
            owner[s] = u
        uses += [(u, o, s) for s in used]
    edges, why = {}, {}
    for u, o, s in uses:
        v = owner.get(s)
        if v is None or v == u:
            continue
        edges.setdefault(u, set()).add(v)
        why.setdefault((u, v), []).append("%s uses %s" % (os.path.relpath(o, root), s))
    units = set(owner.values()) | set(u for u, _, _ in uses)
    bad = 0
    for u in sorted(units - set(LAYERS)):
        print("layers: unit %s is not in LAYERS (test/tools/layers.py)" % u)
        bad += 1
    for comp in cycles(units, edges):
        print("layers: cycle between %s" % ", ".join(comp))
        bad += 1
    for (u, v), reasons in sorted(why.items()):
        if u in LAYERS and v in LAYERS and LAYERS.index(v) > LAYERS.index(u):
            print("layers: %s calls %s, which is above it:" % (u, v))
            for r in sorted(reasons):
                print("    " + r)
            bad += 1
    for problem in include_problems(root):
        print("layers: " + problem)
        bad += 1
    n = sum(len(v) for v in edges.values())
    print("layers: %d units, %d dependencies between them, %d problems"
          % (len(units), n, bad))
    for u in LAYERS:
        if u in units:
            print("    %-12s -> %s" % (u, ", ".join(
                sorted(edges.get(u, ()), key=LAYERS.index)) or "(nothing)"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
