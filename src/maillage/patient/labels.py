"""Short patient labels ("NOM Prénom") for lists that another capability shows (a monitoring worklist, its
enrolments), read under the actor's access.

Only the patients the actor may see now (``authz.accessible_patients``) get a name; the list that shows them is
audited by the service that built it (``authz.audit_list``), so this read adds no entry of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.patient import repository as repo
from maillage.security.actor import Actor


def short_labels(session: Session, actor: Actor, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """"NOM Prénom" (used name, else birth name, then the used given name, else the first given name) of each of
    these patients the actor may see now; the others are left out."""
    out = {}
    for pid, used, birth, used_given, given in repo.name_parts(session, authz.accessible_patients(actor), patient_ids):
        first = used_given or (given or "").split(" ")[0]
        out[pid] = f"{(used or birth or '').upper()} {first}".strip()
    return out
