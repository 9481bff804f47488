#!/usr/bin/env python3
"""The mechanical rules of PostgreSQL's code style (pgindent's) in src/.

pgindent itself needs pg_bsd_indent, which Debian 12 does not package;
these are the rules of its output a script can check exactly:
  - indentation is tabs (a space may follow tabs only to align a
    continuation or a comment's " *");
  - no trailing white space; no // comments;
  - a brace that opens a block stands on its own line (Allman), except in
    initialisers (= {), and "} else" / "} while" are split likewise;
  - a function definition has its return type on a line of its own, and
    its name at the start of the next;
  - every file opens with the header comment naming it.
usage: style.py ROOT
"""
import os
import re
import sys

CONTROL = re.compile(r'^\s*(if|else|for|while|switch|do)\b.*\{\s*$')
DEF_ONE_LINE = re.compile(r'^(static\s+)?[A-Za-z_][\w\s\*]*\s\**\w+\([^;]*\)\s*$')


def check(path, rel):
    problems = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    name = os.path.basename(path)
    if len(lines) < 3 or lines[0] != "/*" + "-" * 73 or lines[2] != " * " + name:
        problems.append((1, "the file must open with its header comment naming %s" % name))
    in_comment = False
    for i, line in enumerate(lines, 1):
        code = line
        if line.rstrip() != line:
            problems.append((i, "trailing white space"))
        lead = re.match(r'^[ \t]*', line).group(0)
        if " " in lead:
            # spaces after tabs align a continuation or a comment
            if "\t" in lead.lstrip(" ") or (lead.startswith(" ") and not (
                    line.lstrip().startswith("*") or in_comment)):
                if not line.strip().startswith("*") and len(lead.replace("\t", "")) >= 4:
                    problems.append((i, "indent with tabs"))
        stripped = line.strip()
        if not in_comment and re.search(r'(^|[^:"\'])//', re.sub(r'"([^"\\]|\\.)*"', '""', line)):
            problems.append((i, "a // comment"))
        if "/*" in line and "*/" not in line[line.index("/*"):]:
            in_comment = True
        elif in_comment and "*/" in line:
            in_comment = False
            continue
        if in_comment or stripped.startswith("*") or stripped.startswith("#"):
            continue
        if CONTROL.match(code) and "= {" not in code:
            problems.append((i, "a block's brace goes on its own line"))
        if re.match(r'^\s*\}\s*(else|while)\b', code) and not re.match(r'^\s*\}\s*while\s*\(.*\);', code):
            problems.append((i, "\"} %s\": the brace on its own line" % stripped.split()[1]))
        if (not line.startswith(("\t", " ", "extern", "typedef", "#"))
                and DEF_ONE_LINE.match(line) and i < len(lines) and lines[i] == "{"):
            problems.append((i, "a function's return type goes on its own line"))
    return ["%s:%d: %s" % (rel, n, m) for n, m in problems]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    out = []
    n = 0
    for d, _, files in os.walk(os.path.join(root, "src")):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                p = os.path.join(d, f)
                n += 1
                out += check(p, os.path.relpath(p, root))
    for line in out:
        print(line)
    print("style: %d files, %d problems" % (n, len(out)))
    sys.exit(1 if out else 0)


if __name__ == "__main__":
    main()
