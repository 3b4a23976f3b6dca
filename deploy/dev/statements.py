#!/usr/bin/env python3
"""Counts the SQL statements each yimen process sent, from its JSON log with `sqlx::query` at
debug level (one line a statement: the SQL with its placeholders, never a bound value), and
prints them for each case of the run: per process, its transactions, and the statements sent
most. The driver does not log a transaction's BEGIN: one is counted for each COMMIT or
ROLLBACK. `make bench-statements` runs it after a `bench-dist` in that mode.

    statements.py --cases N name=LOG [name=LOG ...]
"""

import argparse
import collections
import json
import re
import sys

# A multi-row VALUES list, however many rows: `($1, $2), ($3, $4)` reads `(…)…`.
ROWS = re.compile(r"\(\$\d+(?:, *\$\d+)*\)(?:, *\(\$\d+(?:, *\$\d+)*\))+")
SPACE = re.compile(r"\s+")


def statement(record):
    """The SQL of a log record of sqlx's, or None for any other record."""
    if not isinstance(record, dict):
        return None
    for key in ("db.statement", "summary"):
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    for value in record.values():
        if isinstance(value, dict):
            found = statement(value)
            if found:
                return found
    return None


def shape(sql):
    """One statement's shape: whitespace collapsed, a VALUES list of any length as one."""
    sql = SPACE.sub(" ", sql).strip().rstrip(" …")
    return ROWS.sub("(…)…", sql)


def count(path):
    shapes = collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            sql = statement(record)
            if sql:
                shapes[shape(sql)] += 1
    return shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, required=True)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("logs", nargs="+", metavar="name=LOG")
    args = parser.parse_args()
    if args.cases <= 0:
        sys.exit("statements.py: --cases must be above 0")
    per_case = lambda n: n / args.cases
    everything = collections.Counter()
    print(f"  SQL statements for each case ({args.cases} cases; with BEGIN and COMMIT):")
    total = 0
    for item in args.logs:
        name, _, path = item.partition("=")
        shapes = count(path)
        ends = sum(n for s, n in shapes.items() if s.upper() in ("COMMIT", "ROLLBACK"))
        shapes["BEGIN"] += ends
        sent = sum(shapes.values())
        total += sent
        for s, n in shapes.items():
            everything[(name, s)] += n
        print(f"    {name:<11} {per_case(sent):6.1f}  (transactions {per_case(ends):.1f})")
    print(f"    {'all':<11} {per_case(total):6.1f}")
    print(f"  the statements sent most (for each case):")
    for (name, s), n in everything.most_common(args.top):
        shown = s if len(s) <= 110 else s[:107] + "..."
        print(f"    {per_case(n):5.2f}  {name:<11} {shown}")


if __name__ == "__main__":
    main()
