"""The programme's use cases: the programme manager edits, the direction and the ARS analyst read; every change is
journalled with who, when, before and after; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from maillage.exceptions import PermissionDenied, ValidationFailed
from maillage.models.programme import ProgrammeBudgetLine, ProgrammeChange
from maillage.programme import service
from maillage.security.actor import Actor
from maillage.security.roles import Role


def actor(role: Role) -> Actor:
    return Actor(user_id=uuid.uuid4(), username=role.value, display_name=f"Compte {role.label}", role=role)


MANAGER, DIRECTION, ANALYST = actor(Role.PROGRAMME_MANAGER), actor(Role.DIRECTION), actor(Role.ANALYST)


def a_project(db):
    axes = service.start_programme(db, MANAGER)
    return service.save_project(db, MANAGER, None, axis_id=axes[2].id, title="Télésurveillance de l'insuffisance "
                                "cardiaque", owner="Dr Martin", sites=[], starts_on=dt.date(2026, 1, 1),
                                ends_on=dt.date(2028, 12, 31))


class TestEditing:
    def test_the_manager_builds_a_project_the_direction_and_the_analyst_read_it(self, db):
        project = a_project(db)
        service.set_budget(db, MANAGER, project.id, year=2026, planned_cents=12_000_050, committed_cents=5_000_000,
                           paid_cents=1_000_000)
        ind = service.add_indicator(db, MANAGER, project.id, label="Délai moyen de réponse", unit="heures",
                                    catalogue_code="teleexpertise-reponses", measure="delai_moyen_heures")
        service.set_target(db, MANAGER, ind.id, year=2026, target=Decimal("48"))
        for reader in (DIRECTION, ANALYST, MANAGER):
            seen = service.programme(db, reader)
            assert [a.title for a in seen.axes][2] == "Suivre les patients par les objets connectés"
            view = seen.projects[0]
            assert view.total("planned_cents") == 12_000_050
            assert view.indicators[0].year(2026).target == Decimal("48")

    @pytest.mark.parametrize("reader", [DIRECTION, ANALYST])
    def test_a_reader_may_not_edit(self, db, reader):
        with pytest.raises(PermissionDenied):
            service.start_programme(db, reader)

    def test_a_physician_may_not_even_read(self, db):
        with pytest.raises(PermissionDenied):
            service.programme(db, actor(Role.PHYSICIAN))

    def test_a_second_budget_for_the_same_year_replaces_the_first_and_journals_before_and_after(self, db):
        project = a_project(db)
        service.set_budget(db, MANAGER, project.id, year=2026, planned_cents=100, committed_cents=0, paid_cents=0)
        line = service.set_budget(db, MANAGER, project.id, year=2026, planned_cents=250, committed_cents=100,
                                  paid_cents=0)
        assert db.scalar(select(func.count()).select_from(ProgrammeBudgetLine)) == 1
        change = service.history(db, DIRECTION, [line.id])[0]
        assert change.action == "update" and change.actor_name == MANAGER.display_name
        assert change.before["planned_cents"] == 100 and change.after["planned_cents"] == 250

    def test_a_paid_amount_above_the_committed_one_changes_nothing(self, db):
        project = a_project(db)
        before = db.scalar(select(func.count()).select_from(ProgrammeChange))
        with pytest.raises(ValidationFailed, match="payé"):
            service.set_budget(db, MANAGER, project.id, year=2026, planned_cents=100, committed_cents=10,
                               paid_cents=20)
        assert db.scalar(select(func.count()).select_from(ProgrammeChange)) == before

    def test_a_float_amount_is_refused(self, db):
        project = a_project(db)
        with pytest.raises(ValidationFailed):
            service.set_budget(db, MANAGER, project.id, year=2026, planned_cents=10.5, committed_cents=0,  # type: ignore[arg-type]
                               paid_cents=0)

    def test_an_indicator_bound_to_an_unknown_measure_is_refused(self, db):
        project = a_project(db)
        with pytest.raises(ValidationFailed, match="catalogue"):
            service.add_indicator(db, MANAGER, project.id, label="X", unit="", catalogue_code="telesurveillance",
                                  measure="nir")

    def test_a_hand_entered_indicator_needs_its_source_and_may_hold_its_value(self, db):
        project = a_project(db)
        with pytest.raises(ValidationFailed, match="Source"):
            service.add_indicator(db, MANAGER, project.id, label="Tablettes achetées", unit="tablettes")
        ind = service.add_indicator(db, MANAGER, project.id, label="Tablettes achetées", unit="tablettes",
                                    source="Inventaire du service biomédical")
        year = service.set_target(db, MANAGER, ind.id, year=2026, target=Decimal("40"), manual_value=Decimal("31"))
        assert year.manual_value == Decimal("31")

    def test_a_computed_indicator_takes_no_hand_entered_value(self, db):
        project = a_project(db)
        ind = service.add_indicator(db, MANAGER, project.id, label="Patients suivis", unit="patients",
                                    catalogue_code="telesurveillance", measure="patients")
        with pytest.raises(ValidationFailed, match="entrepôt"):
            service.set_target(db, MANAGER, ind.id, year=2026, target=Decimal("40"), manual_value=Decimal("3"))

    def test_milestones_late_and_due_soon_are_counted_for_the_home_page(self, db):
        project = a_project(db)
        service.add_milestone(db, MANAGER, project.id, title="Appel d'offres", due_on=dt.date(2026, 3, 1))
        service.add_milestone(db, MANAGER, project.id, title="Déploiement", due_on=dt.date(2026, 6, 20))
        done = service.add_milestone(db, MANAGER, project.id, title="Cadrage", due_on=dt.date(2026, 2, 1))
        service.set_milestone_status(db, MANAGER, done.id, "done")
        seen = service.watch(db, DIRECTION, dt.date(2026, 6, 1))
        assert (seen.projects, seen.late, seen.due_soon) == (1, 1, 1)
