"""Enumerations whose members carry the French label people read.

Code reads the value (stored in the database, sent in the API); pages read the label. Each member is declared
with both, in one place::

    class Severity(LabelledEnum):
        RED = "red", "Rouge"
        ORANGE = "orange", "Orange"

    Severity.RED == "red"          # a str enum: compares, hashes and serialises as its value
    Severity("red").label          # "Rouge"
    Severity.labels()              # {Severity.RED: "Rouge", Severity.ORANGE: "Orange"}
    Severity.label_of("blue")      # "blue": an unknown code is shown as it is
"""

from __future__ import annotations

import enum
from typing import Self


class LabelledEnum(enum.StrEnum):
    """A ``StrEnum`` whose members are declared ``NAME = value, label``: ``member.label`` is the French label."""

    _value_: str
    _label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        # Runs once per member, at class creation; ``Severity("red")`` looks a member up and never comes here (the
        # default only lets type checkers accept that lookup).
        member = str.__new__(cls, value)
        member._value_ = value
        member._label = label
        return member

    @property
    def label(self) -> str:
        return self._label

    @classmethod
    def label_of(cls, value: str) -> str:
        """The label of ``value``, or ``value`` itself when no member has it (a code stored by an older version or
        read from an import is shown as it is rather than refused)."""
        try:
            return cls(value).label
        except ValueError:
            return value

    @classmethod
    def labels(cls) -> dict[Self, str]:
        """Every member and its label, in declaration order (for select options and lookup tables)."""
        return {member: member.label for member in cls}
