#!/usr/bin/env python3
"""Lists cycles among the agent's top-level modules (crate::X references), exit 1 if any."""
import os, re, sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "agent", "src")
mods = {}
for entry in os.listdir(src):
    path = os.path.join(src, entry)
    if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
        mods[entry[:-3]] = [path]
    elif os.path.isdir(path):
        mods[entry] = [os.path.join(dp, f) for dp, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]

def refs(text):
    text = re.sub(r"//[^\n]*", "", text)
    out = set(re.findall(r"crate::(\w+)", text))
    for group in re.findall(r"crate::\{([^}]*(?:\{[^}]*\}[^}]*)*)\}", text, re.S):
        depth = 0; tok = ""
        for ch in group + ",":
            if ch == "{": depth += 1
            elif ch == "}": depth -= 1
            if ch == "," and depth == 0:
                name = tok.strip().split("::")[0].strip()
                if name: out.add(name)
                tok = ""
            else:
                tok += ch
    return out

graph = {m: set() for m in mods}
for m, files in mods.items():
    for f in files:
        graph[m] |= {r for r in refs(open(f).read()) if r in mods and r != m}

# Tarjan's SCC
index, low, stack, on, sccs, i = {}, {}, [], set(), [], [0]
def strong(v):
    index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
    for w in sorted(graph[v]):
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index: strong(v)
for c in sccs:
    edges = [f"{a}->{b}" for a in c for b in sorted(graph[a]) if b in c]
    print("cycle:", ", ".join(c), "|", " ".join(edges))
sys.exit(1 if sccs else 0)
