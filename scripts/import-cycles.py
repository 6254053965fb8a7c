#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Prints the import cycles between the batchpoke module's source files.

    import-cycles.py [ROOT]

ROOT (the repository by default) holds `rust/batchpoke_main.rs`, the crate
root. A file's module is its path under `rust/` (`sys/mod.rs` is `sys`,
`sys/int3.rs` is `sys::int3`), or what a `#[path = "..."] mod name`
attribute makes it. A file's imports are every `crate::` and `super::` path
in it, `use` groups (`super::{a::X, b}`) expanded, each resolved to the
longest module prefix that is a file. A cycle is a strongly connected
group of more than one file. Exits 1 if there is one.
"""
import glob
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "rust")
files = sorted(f for f in glob.glob(os.path.join(src, "**", "*.rs"), recursive=True)
               if "/target/" not in f and "/tests/" not in f and "bindings_generated" not in f)


def strip_comments(text):
    # Doc links and comments are not imports; string literals may hold `//`.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"|//[^\n]*', lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)


def default_module(rel):
    """Module path of a file under rust/, by Rust's file layout."""
    parts = rel[:-len(".rs")].split(os.sep)
    if parts == ["batchpoke_main"]:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


# `#[path = "dir"] mod name { mod x; }`: files under dir belong to name.
remap = {}
for f in files:
    text = open(f).read()
    for rel_dir, name in re.findall(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(' + IDENT + r")", text):
        # A `mod` item in `a/b.rs` or `a/b/mod.rs` is a child of `a::b`.
        parent = default_module(os.path.relpath(f, src))
        target_dir = os.path.normpath(os.path.join(os.path.dirname(os.path.relpath(f, src)), rel_dir))
        remap[tuple(target_dir.split(os.sep))] = parent + (name,)


def module_of(path):
    rel = os.path.relpath(path, src)
    mod = default_module(rel)
    for prefix, target in remap.items():
        if mod[:len(prefix)] == prefix:
            return target + mod[len(prefix):]
    return mod


def expand(text, start):
    """Paths of the `use` tree starting at text[start:]: (paths, end)."""
    m = re.match(r"\s*(" + IDENT + r"(?:\s*::\s*" + IDENT + r")*)(\s*::\s*\{)?", text[start:])
    if not m:
        if re.match(r"\s*\{", text[start:]):
            return expand_group(text, start + text[start:].index("{") + 1, ())
        return [], start
    head = tuple(s.strip() for s in m.group(1).split("::"))
    end = start + m.end()
    if not m.group(2):
        return [head], end
    paths, end = expand_group(text, end, head)
    return paths, end


def expand_group(text, pos, head):
    paths = []
    while pos < len(text):
        sub, pos = expand(text, pos)
        paths += [head + p for p in sub]
        rest = re.match(r"\s*(,|\})", text[pos:])
        if not rest:
            pos += 1
            continue
        pos += rest.end()
        if rest.group(1) == "}":
            break
    return paths or [head], pos


def imports(mod, text):
    found = []
    for m in re.finditer(r"\b(crate|super(?:\s*::\s*super)*)\s*::\s*", text):
        anchor = m.group(1)
        if anchor == "crate":
            base = ()
        else:
            ups = anchor.count("super")
            # `super` of `sys::int3` is `sys`; of `sys` (sys/mod.rs) it is the crate.
            base = mod[:len(mod) - ups] if len(mod) >= ups else ()
        for p in expand(text, m.end())[0]:
            found.append(base + p)
    return found


modules = {module_of(f): f for f in files}
graph = {}
for mod, path in modules.items():
    text = strip_comments(open(path).read())
    deps = set()
    for p in imports(mod, text):
        for n in range(len(p), 0, -1):
            if p[:n] in modules:
                if p[:n] != mod and p[:n] != ():
                    deps.add(p[:n])
                break
    graph[mod] = deps


def name(mod):
    return "::".join(mod) or "crate"


index, low, stack, on_stack, cycles = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
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


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)
for group in cycles:
    print("import cycle: " + ", ".join(
        f"{name(v)} -> {{{', '.join(name(d) for d in sorted(graph[v]) if d in group)}}}" for v in group))
if os.environ.get("IMPORT_CYCLES_GRAPH"):
    for v in sorted(graph):
        print(f"{name(v)}: {', '.join(name(d) for d in sorted(graph[v]))}")
sys.exit(1 if cycles else 0)
