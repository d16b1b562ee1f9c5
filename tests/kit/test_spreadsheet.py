"""A cell that starts like a formula is written as text (OWASP, CSV Injection)."""

from __future__ import annotations

import pytest

from maillage.kit.spreadsheet import text_cell, text_row


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x","y")', "+33 1", "-1+2", "@SUM(A1)", "\tx", "\rx"])
def test_a_formula_start_is_read_as_text(value: str) -> None:
    assert text_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Dr Martin", "TE2", "2026-01-01", "", "10002345678", "a=b"])
def test_an_ordinary_cell_is_unchanged(value: str) -> None:
    assert text_cell(value) == value


def test_a_row() -> None:
    assert text_row(("=1", "ok")) == ("'=1", "ok")
