"""Tele-expertise use cases, by subject: ``workflow`` (draft, submit, route, claim, assign, hand back, transfer,
ask/reply, answer, decline, admission follow-up), ``acts`` (TE2/RQD and their billing), ``reading`` (a request,
lists, choices), ``board`` (the coordinator's figures), ``deadlines`` (reminders and escalation, by the worker) and
``report`` (the PDF compte rendu); ``steps`` holds what the steps share.

Who sees a request is decided in ``authz`` (``access_request``): its requester, its assignee or named specialist,
and the professionals of its line (answering or on-call backup), who work the line's pool. Anyone else gets
``NotFound``, the answer for a missing request, and the refused attempt is audited.

This module is the package's public face for its entry points (endpoints, pages, tasks) and tests: the names below
are the use cases, re-exported from their subject module.
"""

from __future__ import annotations

from maillage.teleexpertise.acts import record_acts
from maillage.teleexpertise.board import (
    BOARD_DAYS,
    BOARD_REFRESH_EVERY,
    BOARD_STALE_AFTER,
    UNKNOWN_ESTABLISHMENT,
    BoardRow,
    Coordination,
    EstablishmentBoard,
    LineBoard,
    board,
    coordination,
    refresh_board,
)
from maillage.teleexpertise.deadlines import WATCHED, escalate_overdue, send_reminders
from maillage.teleexpertise.reading import (
    AdmissionRow,
    Assignable,
    NewRequestOptions,
    RequestDetail,
    RowFacts,
    assignable_specialists,
    get_request,
    is_overdue,
    line_admissions,
    list_facts,
    my_lines,
    my_requests,
    new_request_options,
    patient_view,
    worklist,
)
from maillage.teleexpertise.report import compte_rendu
from maillage.teleexpertise.steps import MIN_QUESTION_CHARS, MIN_REASON_CHARS, OBJECT_TYPE, SOURCE_TYPE
from maillage.teleexpertise.workflow import (
    add_attachment,
    answer,
    ask,
    assign,
    cancel,
    claim,
    create_request,
    decline,
    hand_back,
    missing_for_submission,
    reply,
    submit,
    transfer,
    update_admission,
)

__all__ = [
    "BOARD_DAYS", "BOARD_REFRESH_EVERY", "BOARD_STALE_AFTER", "MIN_QUESTION_CHARS", "MIN_REASON_CHARS", "OBJECT_TYPE",
    "SOURCE_TYPE", "UNKNOWN_ESTABLISHMENT", "WATCHED", "AdmissionRow", "Assignable", "BoardRow", "Coordination",
    "EstablishmentBoard", "LineBoard", "NewRequestOptions", "RequestDetail", "RowFacts", "add_attachment", "answer",
    "ask", "assign", "assignable_specialists", "board", "cancel", "claim", "compte_rendu", "coordination",
    "create_request", "decline", "escalate_overdue", "get_request", "hand_back", "is_overdue", "line_admissions",
    "list_facts",
    "missing_for_submission", "my_lines", "my_requests", "new_request_options", "patient_view", "record_acts",
    "refresh_board", "reply", "send_reminders", "submit", "transfer", "update_admission", "worklist",
]
