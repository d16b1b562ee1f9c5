"""``maillage predict train|evaluate|activate|card|score|population``: the risk models' pipeline from the console.

Heavy imports (LightGBM, scikit-learn) happen inside the commands, so the rest of the console stays fast."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from maillage.exceptions import MaillageError

app = typer.Typer(help="Modèles de risque (décompensation cardiaque à 14 jours) : entraîner, évaluer, activer.",
                  no_args_is_help=True)
console = Console(stderr=True)
out = Console()


@contextmanager
def _session() -> Iterator[Session]:
    from maillage.config import get_settings
    from maillage.kit.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings().effective_database_url)
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except MaillageError as exc:
        session.commit()  # a refused activation is recorded as refused
        console.print(f"[red]Erreur :[/red] {exc.message}")
        raise typer.Exit(code=1) from exc
    finally:
        session.close()
        engine.dispose()


def summary(metrics: dict[str, Any]) -> str:
    """The headline figures of an evaluation, in French."""
    ci = metrics.get("intervals", {})

    def interval(key: str) -> str:
        low, high = ci.get(key, [None, None])
        return f" [{low:.3f} ; {high:.3f}]" if low is not None and high is not None else ""

    lines = [f"Lignes de test : {metrics['n']} ({metrics['events']} événements, {metrics['patients']} patients)",
             f"AUC ROC : {metrics['roc_auc']:.3f}{interval('model_roc_auc')}",
             f"AUC PR : {metrics['pr_auc']:.3f}{interval('model_pr_auc')}",
             f"Brier : {metrics['brier']:.4f} ; pente de calibration : {metrics['calibration_slope']:.2f}"]
    rule = metrics.get("rule")
    if rule:
        lines.append(f"Règle de poids : AUC ROC {rule['roc_auc']:.3f}{interval('rule_roc_auc')}, AUC PR "
                     f"{rule['pr_auc']:.3f}, taux d'alerte {rule['alert_rate']:.1%}")
        lines.append("Fait mieux que la règle : " + ("oui" if metrics.get("beats_baseline") else "non"))
    return "\n".join(lines)


@app.command("train")
def train_command(
    patients: Annotated[int, typer.Option("--patients", min=50, help="Patients de la cohorte synthétique")] = 400,
    seed: Annotated[int, typer.Option("--graine")] = 0,
) -> None:
    """Entraîne une nouvelle version sur la cohorte synthétique, l'évalue et l'enregistre (non activée)."""
    from maillage.analytics.predict import service

    with _session() as session:
        model = service.train_synthetic(session, patients=patients, seed=seed)
        out.print(f"Version {model.version} enregistrée ({model.id}).")
        out.print(summary(model.metrics))


@app.command("evaluate")
def evaluate_command(
    jeu: Annotated[str, typer.Option("--jeu", help="whas500, ou l'identifiant d'une version enregistrée")] = "whas500",
    sortie: Annotated[Path | None, typer.Option("--json", help="Écrit toutes les mesures dans ce fichier")] = None,
) -> None:
    """Affiche l'évaluation d'une version, ou fait tourner la chaîne sur WHAS500 (données réelles publiques)."""
    from maillage.analytics.predict import service

    if jeu == "whas500":
        metrics = service.whas500_report()
    else:
        with _session() as session:
            metrics = service.get_model(session, uuid.UUID(jeu)).metrics
    out.print(summary(metrics))
    if sortie:
        sortie.write_text(json.dumps(metrics, ensure_ascii=False, indent=1))


@app.command("activate")
def activate_command(
    model_id: Annotated[str, typer.Argument(help="Identifiant de la version")],
    par: Annotated[str, typer.Option("--par", help="Adresse du médecin qui approuve")],
) -> None:
    """Met une version en service, si elle fait mieux que la règle de poids ; sinon la refuse."""
    from maillage.analytics.predict import service

    with _session() as session:
        approver = service.approver(session, par)
        model = service.activate(session, uuid.UUID(model_id), approver)
        out.print(f"Version {model.version} activée.")


@app.command("card")
def card_command(
    model_id: Annotated[str, typer.Argument(help="Identifiant de la version")],
    pdf: Annotated[Path, typer.Option("--pdf", help="Fichier PDF à écrire")] = Path("fiche-modele.pdf"),
) -> None:
    """Écrit la fiche du modèle en PDF."""
    from maillage.analytics.predict import card, service

    with _session() as session:
        model = service.get_model(session, uuid.UUID(model_id))
        pdf.write_bytes(card.pdf(card.card_of(session, model)))
    out.print(f"Fiche écrite : {pdf}")


@app.command("score")
def score_command() -> None:
    """Recalcule les scores dus (ce que fait le worker toutes les cinq minutes)."""
    from maillage.analytics.predict import service

    with _session() as session:
        out.print(f"{service.score_due(session)} scores recalculés.")


@app.command("population")
def population_command(
    personnes: Annotated[int, typer.Option("--personnes", min=2_000, max=2_000_000,
                                           help="Personnes de la population synthétique")] = 20_000,
    seed: Annotated[int, typer.Option("--graine")] = 0,
) -> None:
    """Modèle 2 (hospitalisation non programmée à 12 mois) : entraîne, évalue et enregistre une version, avec ses
    agrégats par commune, département et tranche d'âge passés au contrôle du secret statistique."""
    from maillage.analytics.predict import service
    from maillage.analytics.warehouse import default_warehouse

    warehouse = default_warehouse()
    if not warehouse.has_table("COMMUNES"):
        console.print("[red]Erreur :[/red] l'entrepôt n'a pas de table des communes : lancez d'abord "
                      "« maillage analytics generate-claims ».")
        raise typer.Exit(code=1)
    communes = warehouse.read_table("COMMUNES").to_pandas()
    with _session() as session:
        model = service.train_population(session, communes, persons=personnes, seed=seed)
        report = model.metrics["controle_secret"]
        out.print(f"Version {model.version} enregistrée ({model.id}).")
        out.print(summary(model.metrics))
        out.print(f"Agrégats publiés : {report['cellules']} cellules, dont "
                  f"{report['masquees_primaires'] + report['masquees_secondaires']} masquées (secret statistique).")
