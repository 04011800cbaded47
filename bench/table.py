"""Print benchmark rows as the Markdown table the README quotes."""

from __future__ import annotations


def print_table(rows: list[dict[str, str]]) -> None:
    headers = list(rows[0])
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row[h] for h in headers) + " |")
