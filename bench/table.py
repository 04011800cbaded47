"""Print benchmark rows as the Markdown table the README quotes."""

from __future__ import annotations


def markdown_table(rows: list[dict[str, str]]) -> list[str]:
    """The rows as Markdown table lines (headers from the first row; later rows may omit a column)."""
    if not rows:
        return ["(no rows)"]
    headers = list(dict.fromkeys(h for row in rows for h in row))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row.get(h, "") for h in headers) + " |" for row in rows]
    return lines


def print_table(rows: list[dict[str, str]]) -> None:
    print("\n".join(markdown_table(rows)))


def verdict(met: bool) -> str:
    """The `met` column of a speed target's row: yes, or a bold NO that stands out in the table."""
    return "yes" if met else "**NO**"
