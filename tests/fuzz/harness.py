"""Schemathesis against the application's own OpenAPI document, in process, one pass per identity.

Why in process (``schemathesis.openapi.from_asgi``) rather than against a live ``maillage serve``: the
passes run on the test fixtures' database (SQLite and PostgreSQL, one transaction rolled back at the
end), so the fuzzer's writes never leak into other tests and both backends are fuzzed with the same
code; the server's stack frames of a 500 are captured from its log line and printed next to the
failing request; and there is no process to start per pass. Uvicorn's HTTP parsing is not under test
here (it is uvicorn's); everything from the first middleware down is.

One pass = the schemathesis engine (the one its CLI drives) over every operation of the document:
examples, coverage (boundary and negative cases, unexpected methods), fuzzing (positive and negative
data) and stateful sequences where links can be inferred (an ``id`` in a 201 feeding
``/…/{x_id}``), with every check enabled, a fixed seed and ``max_examples`` per operation.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
import structlog
from schemathesis.engine import events, from_schema
from schemathesis.engine.statistic import Statistic
from schemathesis.openapi.checks import RejectedPositiveData

DEFAULT_EXAMPLES = 5        # `make test`: the whole fuzz pass stays within about three minutes on 2 cores
DEFAULT_SEED = 8_2026       # issue 8, year of the platform: any fixed value will do, this one is memorable
ANONYMOUS = "anonyme"


@dataclass(frozen=True)
class Budget:
    """How much to generate.

    ``MAILLAGE_FUZZ_EXAMPLES``: cases per operation for the fuzzing and stateful phases (the coverage phase
    enumerates its boundary and negative cases whatever the budget). ``MAILLAGE_FUZZ_SEED``: the seed.
    ``MAILLAGE_FUZZ_FULL=1`` (``make fuzz``): every identity on every backend, and the coverage phase on every
    operation for every identity. Without it (``make test``), each identity runs once, on one backend (they
    alternate when PostgreSQL is configured), and each operation's coverage cases are sent by one identity
    only (``coverage_plan``).
    """

    examples: int = DEFAULT_EXAMPLES
    seed: int = DEFAULT_SEED
    full: bool = False

    @classmethod
    def from_env(cls) -> Budget:
        examples = int(os.environ.get("MAILLAGE_FUZZ_EXAMPLES", "") or DEFAULT_EXAMPLES)
        seed = int(os.environ.get("MAILLAGE_FUZZ_SEED", "") or DEFAULT_SEED)
        if examples < 1:
            raise ValueError("MAILLAGE_FUZZ_EXAMPLES doit être un entier positif")
        return cls(examples=examples, seed=seed, full=os.environ.get("MAILLAGE_FUZZ_FULL", "") in ("1", "true", "yes"))


@dataclass(frozen=True)
class Exclusion:
    """One operation (or some checks of one operation) left out of the fuzz pass because of a known defect.

    Only for defects in a package this harness may not fix; ``defect`` names the operation, the input,
    the answer, the root cause and who fixes it. Remove the entry with the fix.
    """

    method: str
    path: str
    defect: str
    checks: tuple[str, ...] = ()  # empty: the whole operation is left out

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


# Known defects owned by packages this harness may not fix. Never a blanket exclusion: one operation each,
# only the checks that fail, with the defect they hide. Remove an entry with its fix. Empty: every check runs
# on every operation.
EXCLUSIONS: tuple[Exclusion, ...] = ()


@dataclass
class FailureReport:
    operation: str
    check: str
    title: str
    message: str
    status: int | None
    request: str
    response: str
    server_error: str | None = None

    def render(self) -> str:
        lines = [f"{self.operation} — {self.title} [{self.check}]", f"  {self.message.strip()}",
                 f"  requête : {self.request}", f"  réponse : {self.status} {self.response}"]
        if self.server_error:
            lines.append(f"  serveur : {self.server_error}")
        return "\n".join(lines)


@dataclass
class PassReport:
    backend: str
    identity: str
    operations: int
    cases: int
    seconds: float
    failures: list[FailureReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    rule_refusals: int = 0  # schema-valid data refused by a business rule (422 from a service), not failures
    credential_lost: bool = False
    by_phase: dict[str, int] = field(default_factory=dict)  # cases per phase: examples, coverage, fuzzing, stateful

    @property
    def problems(self) -> list[str]:
        out = [f.render() for f in self.failures]
        out += [f"erreur du moteur : {e}" for e in self.errors]
        out += [f"opération jamais appelée : {label}" for label in self.untested]
        return out


RULE_STATUSES = frozenset({415, 422})


def is_rule_refusal(response: Any) -> bool:
    """A 422 or 415 raised by a business rule of a service, not by the framework's request parsing.

    A schema cannot say everything a rule checks: that a break-the-glass reason is written in words, that
    a NIR's key is right, that an uploaded file really is a PDF (its bytes, not its declared type). A
    schema-valid request refused by such a rule gets a documented 422 or 415 with French details, and
    is not a failure (whether the status is documented is still checked). A schema-valid request
    refused by request parsing means the schema lies, and stays a failure: FastAPI's validation errors
    name the Pydantic error ``type`` of each field (``maillage.web.errors``), and Starlette's own errors
    have an ``http_…`` code; a service's ``MaillageError`` has neither.
    """
    if response.status_code not in RULE_STATUSES:
        return False
    try:
        error = json.loads(response.content)["error"]
        code = str(error["code"])
    except (ValueError, KeyError, TypeError):
        return False
    if code.startswith("http_"):
        return False
    details = error.get("details") or []
    if not isinstance(details, list):
        return True
    return all(isinstance(d, dict) and "type" not in d for d in details)


def _excerpt(data: bytes | str | None, limit: int = 300) -> str:
    if data is None:
        return ""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else str(data)
    return text if len(text) <= limit else text[:limit] + "…"


def _request_text(response: Any) -> str:
    request = response.request
    return f"{request.method} {request.url} {_excerpt(request.body, 200)}".rstrip()


@contextmanager
def server_errors() -> Iterator[dict[str, str]]:
    """Capture the ``http.unexpected_error`` log lines of the app (type and frames, never values) by request id."""
    captured: dict[str, str] = {}

    def keep(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if event.get("event") == "http.unexpected_error":
            where = event.get("origin") or (event.get("stack") or ["?"])[-1]
            captured[str(event.get("request_id", ""))] = f"{event.get('error_type')} depuis {where}"
        return event

    config = structlog.get_config()
    previous = list(config["processors"])
    structlog.configure(processors=[previous[0], keep, *previous[1:]])
    try:
        yield captured
    finally:
        structlog.configure(processors=previous)


def refused_operations(app: Any, role: str | None) -> set[tuple[str, str]]:
    """(method, path) of the routes that refuse this identity before reading the request.

    Anonymous (``role`` None): every route that depends on ``security.deps.current_actor`` (401). A role: every
    route that requires, through ``security.deps.require``, a permission the role does not have (403). Both
    dependencies run before FastAPI validates parameters and body.
    """
    from maillage.security.deps import current_actor
    from maillage.security.policy import Permission, role_allows
    from maillage.security.roles import Role

    refused: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            dependant = getattr(context, "dependant", None)
            if dependant is None:
                continue
            stack, permissions, needs_actor = list(dependant.dependencies), set(), False
            while stack:
                dependency = stack.pop()
                needs_actor = needs_actor or dependency.call is current_actor
                permission = getattr(dependency.call, "permission", None)
                if isinstance(permission, Permission):
                    permissions.add(permission)
                stack.extend(dependency.dependencies)
            if (needs_actor if role is None else any(not role_allows(Role(role), p) for p in permissions)):
                # The documented path: `{patient_id}`, not the route's `{patient_id:uuid}`.
                path = getattr(context, "path_format", context.path)
                refused.update((method, path) for method in context.methods)
    return refused


def coverage_plan(app: Any, roles: list[str | None]) -> list[frozenset[tuple[str, str]]]:
    """For each identity (None: anonymous), the operations whose coverage phase its pass runs in ``make test``.

    The coverage phase enumerates the same boundary and negative cases whoever sends them, and an
    identity refused before the request is read (``refused_operations``) would get the same 401 or 403
    for all of them. So each operation's coverage cases are sent once, by the first identity of the list
    that gets through to validation and the service; the fuzzing and stateful phases still run every
    operation for every identity. ``make fuzz`` runs the coverage phase for every identity.
    """
    documented = {(m.upper(), p) for p, ops in app.openapi().get("paths", {}).items() for m in ops}
    owned: set[tuple[str, str]] = set()
    plan = []
    for role in roles:
        mine = frozenset(documented - refused_operations(app, role) - owned)
        owned |= mine
        plan.append(mine)
    return plan


def _config(budget: Budget, token: str | None, skip_coverage: set[tuple[str, str]]) -> schemathesis.Config:
    data: dict[str, Any] = {
        "seed": budget.seed,
        "checks": {"enabled": True},
        "generation": {"max-examples": budget.examples, "database": "none"},
        "cache": {"enabled": False},
        "operations": [
            # One operation by its name ("METHOD /path"): separate include-method and include-path filters
            # would be OR-ed by Schemathesis and select every GET.
            {"include-name": e.label, "checks": {name: {"enabled": False} for name in e.checks}}
            for e in EXCLUSIONS if e.checks
        ] + [
            {"include-name": f"{method} {path}", "phases": {"coverage": {"enabled": False}}}
            for method, path in sorted(skip_coverage)
        ],
    }
    if token is not None:
        data["headers"] = {"Authorization": f"Bearer {token}"}
    return schemathesis.Config.from_dict(data)


def run_pass(
    app: Any,
    *,
    backend: str,
    identity: str,
    token: str | None,
    coverage_on: frozenset[tuple[str, str]] | None = None,
    protected_ids: frozenset[str] = frozenset(),
    budget: Budget | None = None,
    still_authenticated: Callable[[], bool] | None = None,
) -> PassReport:
    """Fuzz every operation of the app's OpenAPI document as ``identity`` (a bearer ``token``, or anonymous).

    ``coverage_on``: the (method, path) whose coverage phase this pass runs (``coverage_plan``); None: all.
    ``protected_ids``: path parameter values never sent (the id of the token the pass authenticates with,
    so that ``DELETE /api/auth/tokens/{token_id}`` cannot revoke the pass's own credential).
    """
    budget = budget or Budget.from_env()
    documented = {(m.upper(), p) for p, ops in app.openapi().get("paths", {}).items() for m in ops}
    skip_coverage = set() if budget.full or coverage_on is None else documented - coverage_on
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=_config(budget, token, skip_coverage))
    whole = {(e.method.upper(), e.path) for e in EXCLUSIONS if not e.checks}
    if whole:
        schema = schema.exclude(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in whole)

    def filter_case(_context: Any, case: Any) -> bool:
        return not any(str(v) in protected_ids for v in (case.path_parameters or {}).values())

    def filter_failure(_context: Any, failure: Any, _case: Any, response: Any) -> bool:
        return not (isinstance(failure, RejectedPositiveData) and is_rule_refusal(response))

    schema.hooks.register_hook_with_name(filter_case, "filter_case")
    schema.hooks.register_hook_with_name(filter_failure, "filter_failure")

    operations = sorted(op.ok().label for op in schema.get_all_operations())
    statistic = Statistic()
    errors: list[str] = []
    called: set[str] = set()
    by_phase: dict[str, int] = {}
    started = time.monotonic()
    with server_errors() as crashes:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
                statistic.on_scenario_finished(event.recorder)
                by_phase[event.phase.value] = by_phase.get(event.phase.value, 0) + len(event.recorder.cases)
                called.update(node.value.operation.label for node in event.recorder.cases.values())
            elif isinstance(event, events.NonFatalError):
                errors.append(f"{event.label}: {event.info.title} — {_excerpt(event.info.message, 500)}")
            elif isinstance(event, events.FatalError):
                errors.append(f"{type(event.exception).__name__}: {_excerpt(str(event.exception), 500)}")
    report = PassReport(
        backend=backend, identity=identity, operations=len(operations), cases=statistic.total_cases,
        seconds=time.monotonic() - started, errors=errors,
        untested=[label for label in operations if label not in called],
        excluded=[f"{e.label} ({', '.join(e.checks) or 'toute l’opération'}) : {e.defect}" for e in EXCLUSIONS],
        rule_refusals=statistic.filtered_failures, by_phase=by_phase,
    )
    for grouped in statistic.failures.values():
        for group in grouped.values():
            response = group.response
            for failure in group.failures:
                crash = None
                if response is not None and response.status_code >= 500:
                    try:
                        crash = crashes.get(json.loads(response.content)["error"]["request_id"])
                    except (ValueError, KeyError, TypeError):
                        crash = None
                report.failures.append(FailureReport(
                    operation=failure.operation or "", check=failure.code, title=failure.title,
                    message=failure.message, status=response.status_code if response is not None else None,
                    request=_request_text(response) if response is not None else "",
                    response=_excerpt(response.content) if response is not None else "", server_error=crash,
                ))
    if still_authenticated is not None:
        report.credential_lost = not still_authenticated()
    return report


PHASE_COLUMNS = (("coverage", "couverture"), ("fuzzing", "fuzzing"), ("stateful", "stateful"))


def summary_lines(reports: list[PassReport], budget: Budget) -> list[str]:
    """The table printed at the end of the run: operations, cases (by phase) and failures per pass, then totals."""
    lines = [f"Fuzzing Schemathesis {schemathesis.__version__} — graine {budget.seed}, {budget.examples} exemples "
             "par opération (phases fuzzing et stateful), "
             + ("budget complet (make fuzz)" if budget.full else "budget de make test")]
    phases = "".join(f" {title:>10}" for _, title in PHASE_COLUMNS)
    lines.append(f"{'base':<11} {'identité':<36} {'opérations':>10} {'cas':>7}{phases} {'échecs':>7} "
                 f"{'refus métier':>12} {'durée':>7}")

    def row(label: str, operations: int, rs: list[PassReport]) -> str:
        cells = "".join(f" {sum(r.by_phase.get(key, 0) for r in rs):>10}" for key, _ in PHASE_COLUMNS)
        return (f"{label:<48} {operations:>10} {sum(r.cases for r in rs):>7}{cells} "
                f"{sum(len(r.problems) for r in rs):>7} {sum(r.rule_refusals for r in rs):>12} "
                f"{sum(r.seconds for r in rs):>6.1f}s")

    for r in reports:
        flag = "  (jeton perdu en cours de passe)" if r.credential_lost else ""
        lines.append(row(f"{r.backend:<11} {r.identity}", r.operations, [r]) + flag)
    lines.append(row("total", max((r.operations for r in reports), default=0), reports))
    for line in sorted({line for r in reports for line in r.excluded}):
        lines.append(f"exclu : {line}")
    return lines
