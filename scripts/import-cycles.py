#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Prints the import cycles between the batchpoke module's source files.

A file's imports are its `crate::a::b` and `super::x` paths; a cycle is a
strongly connected group of more than one file. Exits 1 if there is one.
"""
import glob
import os
import re
import sys

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(top)
files = [f for f in glob.glob("rust/**/*.rs", recursive=True)
         if "/target/" not in f and "/tests/" not in f and "bindings_generated" not in f]


def module_of(path):
    name = path[len("rust/"):-len(".rs")].replace("sys/batchpoke_api", "batchpoke_api")
    if name == "batchpoke_main":
        return "crate"
    return name.replace("/mod", "").replace("/", "::")


modules = {module_of(f): f for f in files}
graph = {}
for mod, path in modules.items():
    # Doc links and comments are not imports.
    text = re.sub(r"//.*", "", open(path).read())
    parent = mod.rsplit("::", 1)[0] if "::" in mod else ""
    paths = re.findall(r"crate::([a-z_]+(?:::[a-z_]+)?)", text)
    paths += [f"{parent}::{x}" if parent else x for x in re.findall(r"super::([a-z_]+)", text)]
    deps = set()
    for p in paths:
        for candidate in (p, p.split("::")[0]):
            if candidate in modules and candidate != mod:
                deps.add(candidate)
                break
    graph[mod] = deps

index, low, stack, on_stack, cycles = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            cycles.append(sorted(group))


for v in sorted(graph):
    if v not in index:
        visit(v)
for group in cycles:
    print("import cycle: " + ", ".join(
        f"{v} -> {{{', '.join(sorted(d for d in graph[v] if d in group))}}}" for v in group))
sys.exit(1 if cycles else 0)
