"""Cost of the alert's foreign key to the patient (migration 20261207_0200) when alerts are opened, on PostgreSQL.

Run: `.venv/bin/python benchmarks/monitoring_alert_patient_key.py` (database from MAILLAGE_BENCH_MONITORING_URL, as
`monitoring_ingest.py`, rebuilt by the migrations and seeded like it with MAILLAGE_BENCH_ALERT_PATIENTS patients,
2,000 by default). Measures `EXPLAIN ANALYZE` of inserting 1,000 open green alerts (one per enrolment, in random
order, as the first readings of 1,000 patients open them), each in a transaction rolled back, alternately with the
key and with the key dropped; prints the medians of the whole insert and of its referential triggers. Readings have
no such key (docs/monitoring.md): this is the cost the alert pays for it.
"""

from __future__ import annotations

import os
import re
import statistics

import monitoring_ingest as ingest
import psycopg

ROUNDS = 10
FK = "fk_monitoring_alert_patient_id_patient"
INSERT = """
EXPLAIN (ANALYZE, FORMAT TEXT)
INSERT INTO monitoring_alert (id, enrolment_id, patient_id, team_id, condition, severity, silence, status, open_key,
                              message, source, occurrences, opened_at, last_seen_at, updated_at)
SELECT gen_random_uuid(), e.id, e.patient_id, e.team_id, 'received', 'green', false, 'open', e.id || ':received',
       'Mesure reçue', '', 1, now(), now(), now()
FROM monitoring_enrolment e ORDER BY random() LIMIT 1000
"""


def insert_once(conn: psycopg.Connection) -> tuple[float, float]:
    """(whole insert, referential triggers) in milliseconds, rolled back."""
    with conn.transaction(force_rollback=True):
        plan = "\n".join(row[0] for row in conn.execute(INSERT))
    match = re.search(r"Execution Time: ([\d.]+)", plan)
    assert match is not None, plan
    triggers = sum(float(t) for t in re.findall(r"Trigger [^:]*: time=([\d.]+)", plan))
    return float(match.group(1)), triggers


def main() -> None:
    url = ingest.db_url()
    ingest.PATIENTS = int(os.environ.get("MAILLAGE_BENCH_ALERT_PATIENTS", "2000"))
    ingest.ensure_database(url)
    ingest.seed(url)
    timings: dict[str, list[tuple[float, float]]] = {"avec la clé": [], "sans la clé": []}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        for _ in range(3):
            insert_once(conn)
        for _ in range(ROUNDS):
            timings["avec la clé"].append(insert_once(conn))
            conn.execute(f"ALTER TABLE monitoring_alert DROP CONSTRAINT {FK}")
            timings["sans la clé"].append(insert_once(conn))
            conn.execute(f"ALTER TABLE monitoring_alert ADD CONSTRAINT {FK} FOREIGN KEY (patient_id) "
                         "REFERENCES patient (id) ON DELETE RESTRICT")
    print(f"1 000 alertes ouvertes, {ROUNDS} mesures de chaque, {ingest.PATIENTS} patients inclus :")
    for label, rows in timings.items():
        totals, triggers = [t for t, _ in rows], [g for _, g in rows]
        print(f"  {label} : insertion {statistics.median(totals):.1f} ms (médiane ; {min(totals):.1f}–"
              f"{max(totals):.1f}), dont déclencheurs référentiels {statistics.median(triggers):.1f} ms")


if __name__ == "__main__":
    main()
