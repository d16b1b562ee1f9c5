"""The identity officer's identity vigilance: the worklist of records that may be one person, merges (reversible)
and pairs declared distinct (homonyms)."""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.exceptions import Conflict, NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.models.patient import IdentityMerge, IdentityPairReview, Patient
from maillage.patient import repository as repo
from maillage.patient.rules import (
    TRAIT_LABELS,
    IdentityAttribute,
    IdentityStatus,
    differing_traits,
)
from maillage.patient.service import active_record, require
from maillage.patient.views import PatientView, patient_views, traits_of
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

DUPLICATE_REASONS = {
    "same_ins": "Même matricule INS",
    "same_traits": "Traits stricts identiques",
    "close_traits": "Traits stricts proches",
}


@dataclass(frozen=True)
class DuplicatePair:
    first: PatientView
    second: PatientView
    reason: str
    differing: list[str]

    @property
    def reason_label(self) -> str:
        label = DUPLICATE_REASONS[self.reason]
        if self.differing:
            label += " (" + ", ".join(TRAIT_LABELS[t].lower() for t in self.differing) + " diffère)"
        return label

    @property
    def differing_traits(self) -> list[str]:
        return self.differing

    @property
    def suggested_kept(self) -> PatientView:
        """The record to keep: the more reliable identity, then the one with an INS, then the older one."""
        def score(v: PatientView) -> tuple[int, int, float]:
            p = v.patient
            return (_rank(p.identity_status), int(p.ins_matricule is not None), -p.created_at.timestamp())

        return self.first if score(self.first) >= score(self.second) else self.second


def _close_names(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def classify_pair(a: Patient, b: Patient) -> tuple[str, list[str]] | None:
    """Why two active records may be one person, or None: same INS matricule, identical strict traits (after
    normalisation), or strict traits that differ by one trait only (names close when it is a name)."""
    diff = sorted(differing_traits(traits_of(a), traits_of(b)))
    if a.ins_matricule and a.ins_matricule == b.ins_matricule:
        return "same_ins", diff
    if a.duplicate_key == b.duplicate_key:
        return "same_traits", diff
    if len(diff) != 1:
        return None
    if diff == ["birth_name"] and not _close_names(a.birth_name_norm, b.birth_name_norm):
        return None
    if diff == ["given_names"] and a.first_given_name_norm != b.first_given_name_norm \
            and not _close_names(a.first_given_name_norm, b.first_given_name_norm):
        return None
    return "close_traits", diff


def potential_duplicates(session: Session, actor: Actor, context: AuditContext | None = None) -> list[DuplicatePair]:
    """The identity officer's worklist: pairs of active records that may be one person, not yet reviewed."""
    require(actor, Permission.IDENTITY_MERGE)
    candidates = list(repo.duplicate_candidates(session))
    reviewed = repo.reviewed_pairs(session)
    buckets: dict[tuple[str, ...], list[Patient]] = {}
    for p in candidates:
        buckets.setdefault(("date", p.birth_date.isoformat()), []).append(p)
        buckets.setdefault(("names", p.birth_name_norm, p.first_given_name_norm), []).append(p)
        if p.ins_matricule:
            buckets.setdefault(("ins", p.ins_matricule), []).append(p)
    pairs: dict[tuple[uuid.UUID, uuid.UUID], tuple[Patient, Patient, str, list[str]]] = {}
    for members in buckets.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                first, second = (a, b) if str(a.id) < str(b.id) else (b, a)
                key = (first.id, second.id)
                if key in pairs or key in reviewed:
                    continue
                found = classify_pair(first, second)
                if found is not None:
                    pairs[key] = (first, second, *found)
    order = {"same_ins": 0, "same_traits": 1, "close_traits": 2}
    ranked = sorted(pairs.values(), key=lambda t: (order[t[2]], t[0].birth_name_norm, t[0].birth_date))
    views = {v.patient.id: v for v in patient_views(session, [p for t in ranked for p in t[:2]])}
    authz.audit_list(session, actor, object_type="patient", count=2 * len(ranked),
                     purpose=Purpose.IDENTITY_VIGILANCE, patient_ids=list(views), context=context)
    return [DuplicatePair(views[a.id], views[b.id], reason, diff) for a, b, reason, diff in ranked]


def _rank(status: str) -> int:
    return {"PROV": 0, "RECUP": 1, "VALI": 1, "QUAL": 2}[status]


def merge_patients(session: Session, actor: Actor, *, kept_id: uuid.UUID, merged_id: uuid.UUID, reason: str,
                   context: AuditContext | None = None) -> IdentityMerge:
    """Merge two records of one person: the merged record points at the kept one and its care relationships are
    extended to it. Reversible (``unmerge_patients``). The kept record must be at least as reliable."""
    require(actor, Permission.IDENTITY_MERGE)
    text = " ".join(reason.split())
    if len(text) < 5:
        raise ValidationFailed("Motif : expliquez la fusion.", details=[{"field": "reason",
                                                                        "message": "Motif trop court."}])
    if kept_id == merged_id:
        raise ValidationFailed("Fusion : choisissez deux dossiers différents.",
                               details=[{"field": "merged_patient_id", "message": "Même dossier."}])
    for pid in (kept_id, merged_id):
        authz.access_patient(session, actor, pid, Purpose.IDENTITY_VIGILANCE, action="merge",
                             permission=Permission.IDENTITY_MERGE, context=context)
    kept, merged = active_record(session, kept_id), active_record(session, merged_id)
    if _rank(merged.identity_status) > _rank(kept.identity_status):
        raise ValidationFailed(
            "Fusion : conservez l'identité la plus fiable "
            f"({IdentityStatus(merged.identity_status).label} contre {IdentityStatus(kept.identity_status).label}).",
            details=[{"field": "kept_patient_id", "message": "Le dossier conservé est moins fiable."}])
    if kept.ins_matricule and merged.ins_matricule and kept.ins_matricule != merged.ins_matricule:
        raise ValidationFailed("Fusion : les deux dossiers portent des matricules INS différents ; ce sont deux "
                               "personnes ou l'un des matricules est erroné (vérifiez par INSi).",
                               details=[{"field": "merged_patient_id", "message": "Matricules INS différents."}])
    at = now()
    m = IdentityMerge(kept_patient_id=kept.id, merged_patient_id=merged.id, reason=text, merged_by=actor.user_id,
                      merged_at=at)
    session.add(m)
    session.flush()
    copied = 0
    for rel in repo.current_relationships(session, merged.id, at):
        authz.grant_relationship(session, user_id=rel.user_id, patient_id=kept.id, kind=rel.kind,
                                 source_type="identity_merge", source_id=str(m.id), ends_at=rel.ends_at)
        copied += 1
    m.relationships_copied = copied
    merged.merged_into_id = kept.id
    merged.updated_at = at
    session.flush()
    record(session, action="merge", object_type="identity_merge", object_id=str(m.id), patient_id=str(kept.id),
           purpose=Purpose.IDENTITY_VIGILANCE.value, context=context,
           details={"merged_patient_id": str(merged.id), "relationships_copied": copied}, **actor.audit_fields)
    return m


def unmerge_patients(session: Session, actor: Actor, merge_id: uuid.UUID, reason: str,
                     context: AuditContext | None = None) -> IdentityMerge:
    """Undo a merge: the merged record is active again and the relationships the merge extended end."""
    require(actor, Permission.IDENTITY_MERGE)
    m = repo.merge(session, merge_id)
    if m is None:
        raise NotFound("Fusion introuvable.")
    if m.unmerged_at is not None:
        raise Conflict("Cette fusion a déjà été annulée.")
    text = " ".join(reason.split())
    if len(text) < 5:
        raise ValidationFailed("Motif : expliquez l'annulation.", details=[{"field": "reason",
                                                                           "message": "Motif trop court."}])
    for pid in (m.kept_patient_id, m.merged_patient_id):
        authz.access_patient(session, actor, pid, Purpose.IDENTITY_VIGILANCE, action="unmerge",
                             permission=Permission.IDENTITY_MERGE, context=context)
    merged = repo.patient(session, m.merged_patient_id)
    if merged is None or merged.merged_into_id != m.kept_patient_id:
        raise Conflict("Le dossier fusionné a changé depuis : la fusion ne peut plus être annulée telle quelle.")
    at = now()
    merged.merged_into_id = None
    merged.updated_at = at
    authz.end_relationships(session, source_type="identity_merge", source_id=str(m.id))
    m.unmerged_at, m.unmerged_by, m.unmerge_reason = at, actor.user_id, text
    session.flush()
    record(session, action="unmerge", object_type="identity_merge", object_id=str(m.id),
           patient_id=str(m.kept_patient_id), purpose=Purpose.IDENTITY_VIGILANCE.value, context=context,
           details={"merged_patient_id": str(m.merged_patient_id)}, **actor.audit_fields)
    return m


def mark_distinct(session: Session, actor: Actor, first_id: uuid.UUID, second_id: uuid.UUID,
                  context: AuditContext | None = None) -> IdentityPairReview:
    """Two records are two people (homonyms): they leave the worklist and both carry the HOMD attribute."""
    require(actor, Permission.IDENTITY_MERGE)
    if first_id == second_id:
        raise ValidationFailed("Choisissez deux dossiers différents.",
                               details=[{"field": "second_patient_id", "message": "Même dossier."}])
    a, b = sorted([first_id, second_id], key=str)
    for pid in (a, b):
        authz.access_patient(session, actor, pid, Purpose.IDENTITY_VIGILANCE, action="update",
                             permission=Permission.IDENTITY_MERGE, context=context)
    existing = repo.pair_review(session, a, b)
    if existing is not None:
        return existing
    for pid in (a, b):
        p = active_record(session, pid)
        if IdentityAttribute.HOMD.value not in (p.identity_attributes or []):
            p.identity_attributes = sorted([*(p.identity_attributes or []), IdentityAttribute.HOMD.value])
    review = IdentityPairReview(first_patient_id=a, second_patient_id=b, reviewed_by=actor.user_id)
    session.add(review)
    session.flush()
    return review


def recent_merges(session: Session, actor: Actor, context: AuditContext | None = None) -> list[IdentityMerge]:
    """The latest merges, for the identity officer to review or undo (listed records audited as a search)."""
    require(actor, Permission.IDENTITY_MERGE)
    merges = list(repo.recent_merges(session))
    authz.audit_list(session, actor, object_type="identity_merge", count=len(merges),
                     purpose=Purpose.IDENTITY_VIGILANCE,
                     patient_ids=[i for m in merges for i in (m.kept_patient_id, m.merged_patient_id)],
                     context=context)
    return merges


def merge_parties(session: Session, merges: Sequence[IdentityMerge]) -> dict[uuid.UUID, PatientView]:
    """The records of the merges listed to the identity officer (their list access is audited by the caller)."""
    ids = [i for m in merges for i in (m.kept_patient_id, m.merged_patient_id)]
    return {v.patient.id: v for v in patient_views(session, list(repo.patients_by_ids(session, ids).values()))}
