#!/usr/bin/env python3
"""Draws the imports between the crate's files and fails on a circle of files in a folder.

A file imports another when its code (doc comments and comments aside) names a path into
it: `use super::claim::Claim` in `src/verify/inner.rs` names `src/verify/claim.rs`;
`crate::verify::Verifier` names `src/verify/mod.rs` (the re-export), which is why the
crate's own files name types by their home. A `mod` declaration is not an import.

    python3 .ci/imports.py src/verify src/layer     # fails if either holds a circle
    python3 .ci/imports.py --show src/verify        # prints the edges too
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")


def module_file(parts):
    """The file of module path `parts` (from the crate root), if it is a module."""
    base = SRC.joinpath(*parts) if parts else SRC
    for candidate in (base.with_suffix(".rs"), base / "mod.rs", SRC / "lib.rs" if not parts else None):
        if candidate is not None and candidate.exists():
            return candidate
    return None


def module_of(file):
    rel = file.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def code_lines(text):
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        out.append(line.split("//")[0] if "//" in line and '"' not in line else line)
    return "\n".join(out)


def expand_use(text):
    """`use a::{b, c::d};` as the paths `a::b`, `a::c::d` (one level of braces)."""
    paths = []
    for match in re.finditer(r"\buse\s+([^;]+);", text):
        body = re.sub(r"\s+", "", match.group(1))
        m = re.match(r"(.*?)::\{(.*)\}$", body)
        if m:
            prefix, inner = m.groups()
            depth, item, items = 0, "", []
            for ch in inner:
                if ch == "," and depth == 0:
                    items.append(item)
                    item = ""
                    continue
                depth += ch == "{"
                depth -= ch == "}"
                item += ch
            items.append(item)
            for it in items:
                if it:
                    paths.append(f"{prefix}::{it.split('::{')[0]}")
        else:
            paths.append(body)
    return paths


def target(file, path):
    """The file a path written in `file` leads into."""
    here = module_of(file)
    segments = path.split("::")
    head, rest = segments[0], [s.split(" as ")[0] for s in segments[1:] if s and s != "*"]
    if head == "crate":
        base = []
    elif head == "super":
        base = here[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif head == "self":
        base = here
    else:
        return None
    found = module_file(base)
    for segment in rest:
        deeper = module_file(base + [segment])
        if deeper is None:
            break
        base, found = base + [segment], deeper
    return found


def inline_depths(text):
    """For each position of `text`, how many inline `mod name { ... }` blocks hold it."""
    depth = [0] * (len(text) + 1)
    for m in re.finditer(r"\bmod\s+\w+\s*\{", text):
        level, end = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):
            level += text[i] == "{"
            level -= text[i] == "}"
            if level == 0:
                end = i
                break
        for i in range(m.end(), end):
            depth[i] += 1
    return depth


def paths(text):
    """Every path the code names, with where it stands."""
    found = []
    for match in re.finditer(r"\buse\s+[^;]+;", text):
        found += [(p, match.start()) for p in expand_use(match.group(0))]
    found += [(m.group(0).rstrip(":{"), m.start()) for m in PATH.finditer(text)]
    return found


def edges(folder):
    graph = {}
    for file in sorted(folder.rglob("*.rs")):
        text = code_lines(file.read_text())
        depth = inline_depths(text)
        found = set()
        for path, at in paths(text):
            # Inside an inline module (`mod tests { .. }`), each level's `super` is a step
            # back to this file.
            for _ in range(depth[at]):
                if path.startswith("super"):
                    path = "self" + path[len("super"):]
                    break
            to = target(file, path)
            if to is not None and to != file and folder in to.parents:
                found.add(to)
        graph[file] = found
    return graph


def cycles(graph):
    seen, stack, out = set(), [], []

    def visit(node):
        if node in stack:
            out.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()

    for node in sorted(graph):
        visit(node)
    return out


def main(args):
    show = "--show" in args
    failed = False
    for name in [a for a in args if not a.startswith("--")]:
        folder = (SRC.parent / name).resolve()
        graph = edges(folder)
        if show:
            for file, to in graph.items():
                for t in sorted(to):
                    print(f"{file.relative_to(SRC.parent)} -> {t.relative_to(SRC.parent)}")
        found = cycles(graph)
        for cycle in found:
            print("circle: " + " -> ".join(str(f.relative_to(SRC.parent)) for f in cycle))
        count = sum(len(t) for t in graph.values())
        print(f"{name}: {len(graph)} files, {count} imports between them, {len(found)} circles")
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
