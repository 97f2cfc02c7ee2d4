#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a cycle.

Every source file is a module (`src/engine/driver.rs` is `engine::driver`).
A reference `crate::a::b` (in a `use` or a path) or `super::…` from module X
to module Y is an edge X -> Y, lifted to the two children of their deepest
common ancestor (so `engine::driver -> store::lists` counts as
`engine -> store`). A child using its parent, or a parent its child, is the
normal shape of a Rust module and does not count. Test modules are skipped.
Usage: module-cycles.py CRATE_SRC_DIR [...]
"""
import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(root: Path, path: Path) -> tuple:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def without_tests(text: str) -> str:
    # A file's own `#[cfg(test)] mod tests { … }` comes last by convention here.
    match = re.search(r"^#\[cfg\((all\()?test.*\]\s*\n\s*mod tests", text, re.M)
    return text[: match.start()] if match else text


def strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def expand_use_groups(text: str) -> list:
    """`use crate::{a, b::c};` -> ["crate::a", "crate::b::c"] (one level of braces)."""
    paths = []
    for prefix, group in re.findall(rf"((?:crate|super|self)(?:::{IDENT})*)::\{{([^{{}}]*)\}}", text):
        for item in group.split(","):
            item = item.strip().split(" as ")[0].strip()
            if item and item != "self" and item != "*":
                paths.append(f"{prefix}::{item}")
            elif item in ("self", "*"):
                paths.append(prefix)
    return paths


def referenced_paths(text: str) -> list:
    paths = re.findall(rf"\b((?:crate|super)(?:::{IDENT})+)", text)
    return paths + expand_use_groups(text)


def resolve(path: str, here: tuple, modules: set, is_dir_module: bool):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = here if is_dir_module else here[:-1]
        rest = parts
        while rest and rest[0] == "super":
            base = base[:-1]
            rest = rest[1:]
    candidate = base + tuple(rest)
    while candidate and candidate not in modules:
        candidate = candidate[:-1]
    return candidate


def lifted(a: tuple, b: tuple):
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    if common == len(a) or common == len(b):
        return None  # ancestor and descendant
    return a[: common + 1], b[: common + 1]


def cycles(graph: dict) -> list:
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def connect(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            connect(node)
    return found


def check(root: Path) -> list:
    files = {module_of(root, p): p for p in root.rglob("*.rs")}
    modules = set(files)
    graph, why = {}, {}
    for module, path in files.items():
        if "tests" in module:
            continue
        is_dir_module = path.name in ("lib.rs", "main.rs", "mod.rs") or (path.with_suffix("").is_dir())
        text = strip_comments(without_tests(path.read_text()))
        for reference in referenced_paths(text):
            target = resolve(reference, module, modules, is_dir_module)
            edge = lifted(module, target)
            if edge:
                graph.setdefault(edge[0], set()).add(edge[1])
                why.setdefault(edge, f"{path.relative_to(root)}: {reference}")
    problems = []
    for component in cycles(graph):
        names = ", ".join("::".join(m) for m in component)
        problems.append(f"{root}: import cycle between {names}")
        for a in component:
            for b in component:
                if (a, b) in why and b in graph.get(a, ()):
                    problems.append(f"    {'::'.join(a)} -> {'::'.join(b)}  ({why[(a, b)]})")
    return problems


if __name__ == "__main__":
    problems = [line for root in sys.argv[1:] for line in check(Path(root))]
    print("\n".join(problems) if problems else "no import cycles")
    sys.exit(1 if problems else 0)
