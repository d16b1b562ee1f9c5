"""Teleconsultation use cases, by subject: ``availability`` (a practitioner's ranges and the free slots), ``booking``
(book, cancel, no-show, admit, end; the practitioner's day and the requester's bookings), ``patient_link`` (the
patient's link, consent and room access), ``report`` (the signed compte rendu and its act), ``signalling`` (the
room's WebSocket) over ``relay`` (PostgreSQL LISTEN/NOTIFY, or in process).

Who reaches an appointment is decided in ``authz`` (``access_request``): its requester and its practitioner; the
room admits the practitioner and the patient holding that appointment's link session. Anyone else gets ``NotFound``
(or a refused handshake), and the refused attempt is audited.

This module is the package's public face for the other packages (the home page, the demo): the names below are the
use cases, re-exported from their subject module.
"""

from __future__ import annotations

from maillage.teleconsultation.assisted import my_assisted
from maillage.teleconsultation.availability import RangeIn, add_range, free_slots, line_offers, my_lines, my_ranges
from maillage.teleconsultation.booking import (
    Booked,
    BookingIn,
    Row,
    admit,
    book,
    cancel,
    day,
    end,
    my_bookings,
    no_show,
)
from maillage.teleconsultation.patient_link import consent, open_link
from maillage.teleconsultation.report import ReportIn, sign

__all__ = [
    "Booked", "BookingIn", "RangeIn", "ReportIn", "Row", "add_range", "admit", "book", "cancel", "consent", "day",
    "end", "free_slots", "line_offers", "my_assisted", "my_bookings", "my_lines", "my_ranges", "no_show", "open_link",
    "sign",
]
