"""Deadlines of tele-expertise, run by the worker: a reminder when a quarter of the committed delay remains,
an escalation to the line's coordinators and on-call backup once it has passed; each at most once per request."""

from __future__ import annotations

from sqlalchemy.orm import Session

from maillage.kit.clock import now
from maillage.security.policy import Permission, role_allows
from maillage.security.roles import Role
from maillage.teleexpertise import notify, rules, steps
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise.rules import Status

WATCHED = (Status.PUBLISHED.value, Status.IN_PROGRESS.value)


def send_reminders(session: Session) -> int:
    """Remind whoever holds a request (its specialist, or the line's pool) when a quarter of the delay remains;
    each request is reminded once (a conditional UPDATE on ``reminder_sent_at``)."""
    at = now()
    sent = 0
    for req in repo.unreminded(session, WATCHED):
        if req.due_at is None or not req.committed_minutes or req.due_at <= at:
            continue
        if rules.reminder_at(req.due_at, max(1, req.committed_minutes // 60)) > at:
            continue
        if not repo.stamp_once(session, req.id, "reminder_sent_at", at):
            continue
        holders = ([req.assignee_id] if req.assignee_id else
                   [req.named_expert_id] if req.named_expert_id else
                   sorted(repo.line_user_ids(session, req.line_id, ("answering",))))
        notify.notify(session, holders, req.id, "reminder")
        steps.event(session, req, None, "reminder")
        sent += 1
    return sent


def escalate_overdue(session: Session) -> int:
    """When the due time passes, tell the line's coordinators and its on-call backup, once per request."""
    at = now()
    escalated = 0
    for req in repo.overdue_unescalated(session, WATCHED, at):
        if not repo.stamp_once(session, req.id, "escalated_at", at):
            continue
        backups = repo.line_user_ids(session, req.line_id, ("backup",))
        coordinators = {u.id for u in repo.users_by_ids(session, list(repo.line_user_ids(session, req.line_id,
                                                                                         ("answering",)))).values()
                        if role_allows(Role(u.role), Permission.TELEEXPERTISE_COORDINATE) and u.id != req.assignee_id}
        notify.notify(session, backups | coordinators, req.id, "escalation")
        steps.event(session, req, None, "escalation")
        escalated += 1
    return escalated
