"""Every operation of the API survives hostile and malformed input, anonymously and as each role (issue 8).

Pass: no 5xx, no response that contradicts the documented schema, no undocumented status code, no
other failed check of Schemathesis, and every operation of the document called at least once. The
figures (operations, cases, failures per pass) are printed at the end of the run; ``make fuzz`` runs
the same passes with a larger budget (``MAILLAGE_FUZZ_EXAMPLES``, ``MAILLAGE_FUZZ_FULL``).
"""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, postgres_url
from tests.fuzz.conftest import IDENTITIES, REPORTS, FuzzWorld
from tests.fuzz.harness import Budget, run_pass


def runs_on(identity: str, backend: str, budget: Budget) -> bool:
    """``make test``: each identity once, alternating between the backends when both are there."""
    if budget.full or postgres_url() is None:
        return True
    return backend == ("postgresql" if IDENTITIES.index(identity) % 2 == 0 else "sqlite")


# Only the passes that run are generated (``backend`` parametrised indirectly: its fixture still skips or fails
# when PostgreSQL is not configured, as everywhere else).
PASSES = [(identity, backend) for identity in IDENTITIES for backend in BACKENDS
          if runs_on(identity, backend, Budget.from_env())]


@pytest.mark.parametrize(("identity", "backend"), PASSES, indirect=["backend"])
def test_every_operation_survives_hostile_input(identity: str, backend: str, request: pytest.FixtureRequest) -> None:
    budget = Budget.from_env()
    world: FuzzWorld = request.getfixturevalue("fuzz_savepoint")  # the demo is seeded only for passes that run
    who = world.identities.get(identity)
    report = run_pass(
        world.app, backend=world.backend, budget=budget,
        identity=identity if who is None else f"{identity} ({who.username})",
        token=None if who is None else who.token,
        coverage_on=world.coverage_on(identity),
        protected_ids=frozenset() if who is None else who.protected_ids,
        still_authenticated=None if who is None else (lambda: world.still_authenticated(who.token)),
    )
    REPORTS.append(report)
    assert report.operations > 0, "le document OpenAPI ne contient aucune opération"
    assert report.cases >= report.operations
    assert not report.problems, f"{len(report.problems)} échec(s) :\n\n" + "\n\n".join(report.problems)
