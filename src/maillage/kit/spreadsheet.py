"""Cells written for a spreadsheet: a cell that starts like a formula is read as text.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a carriage return)
as a formula when the CSV is opened: a name typed by someone else (``=HYPERLINK(...)``) would run on the billing
office's computer. Such a cell is prefixed with an apostrophe, which the spreadsheet shows as plain text (OWASP,
"CSV Injection"). Numbers the platform writes itself (amounts, dates) never start so, except negative amounts,
which callers pass through ``number`` untouched.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def text_row(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(text_cell(v) for v in values)
