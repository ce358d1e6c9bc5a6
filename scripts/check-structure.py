#!/usr/bin/env python3
"""The repository's structure rules, checked from the source text (`make lint` runs this after
clippy). Python 3 standard library only.

Rules (each finding printed as `path:line: kind: message`; exit status 1 when any is not in the
allowlist):
  long-fn     no function longer than MAX_FN_LINES lines (from its `fn` line to its closing
              brace) outside tests: `#[cfg(test)]` items, test-only module files (`tests.rs`,
              `*_tests.rs`), every crate's `tests/` directory, the `tests` crate and `benches/`
              are skipped; `bench/src` counts. Generated code (a file whose first line says
              `@generated`, e.g. proto/src/generated/) is not written by hand and is skipped.
  many-args   no `allow(clippy::too_many_arguments)`.
  cycle       no file cycles inside a crate: each crate's module graph (one node per file) with
              an edge for every `use crate::…`, `super::…`, `self::…` or child-module path a file
              names outside its tests; every strongly connected component of two or more files
              is reported.
  outside     no comment or doc that points outside the repository (`../shared`,
              `shared/spec`, `DESIGN.md`).

Known findings go into scripts/structure-allowlist.txt, one `kind key` per line, where key is
`path::fn` (long-fn), `path` (many-args, outside) or the cycle's files sorted and joined by
spaces. An allowlist entry that matches no finding is an error too: the list only shrinks.
"""

import os
import re
import subprocess
import sys

MAX_FN_LINES = 120
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWLIST = os.path.join("scripts", "structure-allowlist.txt")
SELF = os.path.join("scripts", "check-structure.py")
OUTSIDE = re.compile(r"\.\./shared|shared/spec|DESIGN\.md")
TEXT_EXT = (".rs", ".md", ".toml", ".yaml", ".yml", ".py", ".sh", ".proto", ".txt")


def strip(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)

    def blank(s):
        return re.sub(r"[^\n]", " ", s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif re.match(r"b?r#*\"", text[i:i + 260]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r"b?r(#*)\"", text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(blank(text[i:j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and (i == 0 or not text[i - 1].isalnum())):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'", text[i:i + 16])
            if m:
                out.append(blank(m.group(0)))
                i += m.end()
            else:  # a lifetime or label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def item_end(code, pos):
    """From `pos`, the end of the item: after its `;` or its body's closing brace."""
    depth, i, n = 0, pos, len(code)
    while i < n:
        c = code[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == ";" and depth == 0:
            return i + 1, None
        elif c == "{" and depth == 0:
            return match_brace(code, i), i
        i += 1
    return n, None


def match_brace(code, open_pos):
    depth = 0
    for i in range(open_pos, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(code)


ATTR = re.compile(r"#\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def drop_tests(code):
    """`code` with every `#[cfg(test)]` item blanked; and the names of `mod x;` so declared."""
    test_mods = set()
    while True:
        m = ATTR.search(code)
        if not m:
            return code, test_mods
        end, body = item_end(code, m.end())
        decl = re.search(r"\bmod\s+(\w+)\s*;", code[m.end():end])
        if decl and body is None:
            test_mods.add(decl.group(1))
        code = code[:m.start()] + re.sub(r"[^\n]", " ", code[m.start():end]) + code[end:]


def rust_files(root_rel):
    for d, dirs, files in os.walk(os.path.join(ROOT, root_rel)):
        dirs[:] = [x for x in dirs if x not in ("target", ".git")]
        for f in files:
            if f.endswith(".rs"):
                yield os.path.relpath(os.path.join(d, f), ROOT)


def workspace_crates():
    text = open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8").read()
    members = re.search(r"members\s*=\s*\[([^\]]*)\]", text).group(1)
    return re.findall(r'"([^"]+)"', members)


class Crate:
    """One package's source files: module paths from the `mod` declarations of each root."""

    def __init__(self, name):
        self.name = name
        self.modules = {}  # (root, path tuple) -> file
        self.files = {}  # file -> (root, path tuple, code without tests)
        self.test_files = set()
        src = os.path.join(name, "src")
        roots = [os.path.join(src, f) for f in ("lib.rs", "main.rs")]
        bin_dir = os.path.join(ROOT, src, "bin")
        if os.path.isdir(bin_dir):
            roots += [os.path.join(src, "bin", f) for f in sorted(os.listdir(bin_dir)) if f.endswith(".rs")]
        for r in roots:
            if os.path.isfile(os.path.join(ROOT, r)):
                self.walk(r, r, ())

    def walk(self, root, path, mod_path):
        code, test_mods = drop_tests(strip(open(os.path.join(ROOT, path), encoding="utf-8").read()))
        self.files[path] = (root, mod_path, code)
        self.modules[(root, mod_path)] = path
        base = os.path.dirname(path)
        stem = os.path.basename(path)[:-3]
        if stem not in ("lib", "main", "mod") and path != root:
            base = os.path.join(base, stem)
        names = re.findall(r"\bmod\s+(\w+)\s*;", code)
        for name in set(names) | test_mods:
            for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                if os.path.isfile(os.path.join(ROOT, cand)):
                    if name in test_mods:
                        self.test_files.add(cand)
                    else:
                        self.walk(root, cand, mod_path + (name,))
                    break

    def children(self, root, mod_path):
        return {p[len(mod_path)] for (r, p) in self.modules if r == root and len(p) == len(mod_path) + 1 and p[:len(mod_path)] == mod_path}


def expand_use(tree):
    """`a::{b, c::{d}}` -> ["a::b", "a::c::d"]."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for c in inner:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += c == "{"
        depth -= c == "}"
        cur += c
    parts.append(cur)
    return [prefix + s for p in parts if p for s in expand_use(p)]


PATH = re.compile(r"(?<![\w:])((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::\w+)+)")


def edges(crate, path):
    root, mod_path, code = crate.files[path]
    kids = crate.children(root, mod_path)
    refs = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        refs += [(m.start(), p) for p in expand_use(m.group(1))]
    code_wo_use = re.sub(r"\buse\s+[^;]+;", lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)
    refs += [(m.start(), m.group(1)) for m in PATH.finditer(code_wo_use)]
    out = {}
    for pos, ref in refs:
        segs = [s for s in re.sub(r"\bas\b.*$", "", ref).split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            absolute = list(segs[1:])
        elif segs[0] in ("super", "self"):
            absolute = list(mod_path)
            while segs and segs[0] in ("super", "self"):
                if segs.pop(0) == "super":
                    absolute = absolute[:-1]
            absolute += segs
        elif segs[0] in kids:
            absolute = list(mod_path) + segs
        else:
            continue
        for k in range(len(absolute), -1, -1):
            target = crate.modules.get((root, tuple(absolute[:k])))
            if target:
                if target != path:
                    out.setdefault(target, line_of(code, pos))
                break
    return out


def cycles(crate):
    graph = {f: edges(crate, f) for f in crate.files}
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    findings = []
    for scc in sccs:
        detail = "; ".join(f"{a}:{graph[a][b]} -> {b}" for a in scc for b in sorted(graph[a]) if b in scc)
        findings.append(("cycle", " ".join(scc), f"{scc[0]}:1", f"file cycle among {', '.join(scc)} ({detail})"))
    return findings


def generated(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return "@generated" in f.readline()


def skipped_for_functions(path, crate):
    parts = path.split(os.sep)
    return (
        generated(path)
        or parts[0] == "tests"
        or "tests" in parts[1:-1]
        or "benches" in parts
        or os.path.basename(path) == "tests.rs"
        or path.endswith("_tests.rs")
        or (crate is not None and path in crate.test_files)
    )


def long_functions(path, code):
    findings = []
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        end, body = item_end(code, m.end())
        if body is None:
            continue
        first, last = line_of(code, m.start()), line_of(code, end - 1)
        if last - first + 1 > MAX_FN_LINES:
            findings.append(("long-fn", f"{path}::{m.group(1)}", f"{path}:{first}",
                             f"fn {m.group(1)} is {last - first + 1} lines (at most {MAX_FN_LINES})"))
    return findings


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return [f for f in out.splitlines() if os.path.isfile(os.path.join(ROOT, f))]
    except (OSError, subprocess.CalledProcessError):
        return [f for f in rust_files(".")]


def text_findings():
    findings = []
    for f in tracked_files():
        if f in (SELF, ALLOWLIST) or not (f.endswith(TEXT_EXT) or os.path.basename(f) == "Makefile"):
            continue
        try:
            lines = open(os.path.join(ROOT, f), encoding="utf-8").read().splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        for i, line in enumerate(lines, 1):
            if f.endswith(".rs") and re.search(r"allow\s*\(\s*clippy::too_many_arguments", line):
                findings.append(("many-args", f, f"{f}:{i}", "allow(clippy::too_many_arguments)"))
            m = OUTSIDE.search(line)
            if m:
                findings.append(("outside", f, f"{f}:{i}", f"points outside the repository: {m.group(0)!r}"))
    return findings


def read_allowlist():
    entries = []
    path = os.path.join(ROOT, ALLOWLIST)
    if not os.path.isfile(path):
        return entries
    for i, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            kind, _, key = line.partition(" ")
            entries.append((kind, key.strip(), i))
    return entries


def allowed(entry, finding):
    kind, key, _ = entry
    if kind != finding[0]:
        return False
    if kind == "cycle":  # a cycle that shrank is still covered
        return set(finding[1].split()) <= set(key.split())
    return key == finding[1]


def main():
    findings = []
    for name in workspace_crates():
        crate = Crate(name) if os.path.isdir(os.path.join(ROOT, name, "src")) else None
        if crate and name != "tests":
            findings += cycles(crate)
        for f in sorted(rust_files(name)):
            if skipped_for_functions(f, crate):
                continue
            code = (crate.files[f][2] if crate and f in crate.files
                    else drop_tests(strip(open(os.path.join(ROOT, f), encoding="utf-8").read()))[0])
            findings += long_functions(f, code)
    findings += text_findings()
    entries = read_allowlist()
    used, failed = set(), 0
    for finding in findings:
        hits = [e for e in entries if allowed(e, finding)]
        used.update(e[2] for e in hits)
        if not hits:
            failed += 1
            print(f"{finding[2]}: {finding[0]}: {finding[3]}")
    for kind, key, line in entries:
        if line not in used:
            failed += 1
            print(f"{ALLOWLIST}:{line}: stale: `{kind} {key}` matches no finding any more; remove it")
    allowed_n = len(findings) - sum(1 for f in findings if not any(allowed(e, f) for e in entries))
    if failed:
        print(f"check-structure: {failed} problem(s) ({allowed_n} known finding(s) allowlisted in {ALLOWLIST})")
        return 1
    print(f"check-structure: ok ({allowed_n} known finding(s) allowlisted in {ALLOWLIST})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
