"""The model card: what a version is for and not for, its data, its figures with their intervals, its calibration
plot, its subgroup table, its limits, its version and who approved it; as a page and as a PDF."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from maillage.analytics.predict import repository as repo
from maillage.models.prediction import PredictionModel

INTENDED = ("Ordonner, dans la liste de travail des infirmières de télésurveillance de l'insuffisance cardiaque, "
            "les patients d'une même couleur d'alerte selon leur risque de décompensation dans les 14 jours, et "
            "montrer les trois facteurs qui pèsent le plus.")
NOT_INTENDED = ("Décider seul d'un traitement, d'une hospitalisation ou de l'absence de rappel ; remplacer ou "
                "masquer une alerte de la règle (une alerte rouge reste en tête et n'est jamais supprimée) ; "
                "s'appliquer à d'autres programmes que l'insuffisance cardiaque.")
LIMITS = ("Entraîné et évalué sur une cohorte synthétique dont l'effet est connu (docs/predict.md) : ses chiffres "
          "montrent que la chaîne retrouve un signal, pas sa performance sur de vrais patients. En soins, les "
          "hospitalisations antérieures ne sont pas encore reliées (valeur manquante). Les réponses aux questions "
          "de symptômes et la dispensation de diurétiques ne sont pas utilisées.")
STATUS = {"trained": "Entraîné, non activé", "active": "En service", "refused": "Refusé (ne bat pas la règle)",
          "retired": "Remplacé"}


@dataclass(frozen=True)
class ModelCard:
    model: PredictionModel
    approver: str | None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.model.metrics


def card_of(session: Session, model: PredictionModel) -> ModelCard:
    return ModelCard(model, repo.display_name(session, model.approved_by))


def calibration_svg(bins: list[dict[str, float]], size: int = 260) -> Markup:
    """The reliability diagram: observed frequency against mean predicted probability, per bin, with the
    diagonal of perfect calibration. Axes scaled to the largest value (risks are small)."""
    top = max([0.05] + [max(b["predicted"], b["observed"]) for b in bins]) * 1.1
    pad = 36
    span = size - 2 * pad

    def xy(p: float, o: float) -> tuple[float, float]:
        return pad + p / top * span, size - pad - o / top * span

    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(b["predicted"], b["observed"]) for b in bins))
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in
                   (xy(b["predicted"], b["observed"]) for b in bins))
    x0, y0 = xy(0, 0)
    x1, y1 = xy(top, top)
    label = f"{top:.0%}".replace(".", ",")
    return Markup(  # noqa: S704 - numbers and fixed French text only, nothing from a user
        f'<svg class="calibration" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" '
        f'aria-label="Diagramme de calibration">'
        f'<line x1="{x0}" y1="{y0}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#999" stroke-dasharray="4 3"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x1:.1f}" y2="{y0}" stroke="#333"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1:.1f}" stroke="#333"/>'
        f'<polyline points="{points}" fill="none" stroke="#005a9c" stroke-width="2"/>'
        f'<g fill="#005a9c">{dots}</g>'
        f'<text x="{size / 2}" y="{size - 6}" text-anchor="middle" font-size="11">Risque prédit (0 à {label})</text>'
        f'<text x="12" y="{size / 2}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 12 {size / 2})">Fréquence observée</text></svg>')


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}".replace(".", ",")


def _para(doc: Any, height: int, text: str) -> None:
    """A paragraph the width of the page, the next one below it at the left margin."""
    doc.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def pdf(card: ModelCard) -> bytes:
    """The card as a PDF (the kit's Unicode PDF), the calibration plot drawn with lines."""
    from maillage.kit.pdf import UnicodePDF

    m, metrics = card.model, card.metrics
    doc = UnicodePDF()
    doc.add_page()
    doc.set_font(size=15)
    _para(doc, 8, f"Fiche du modèle — risque de décompensation à 14 jours (version {m.version})")
    doc.set_font(size=10)
    ci = metrics.get("intervals", {})

    def interval(key: str) -> str:
        low, high = ci.get(key, [None, None])
        return f" (IC 95 % {_pct(low)} – {_pct(high)})" if low is not None else ""

    rule = metrics.get("rule") or {}
    for title, text in (
        ("Statut", f"{STATUS.get(m.status, m.status)} ; entraîné le {m.trained_at:%d/%m/%Y} ; code {m.code_version}"
                   + (f" ; activation approuvée par {card.approver} le {m.approved_at:%d/%m/%Y}"
                      if m.approved_at and card.approver else "")),
        ("Usage prévu", INTENDED), ("Usages exclus", NOT_INTENDED),
        ("Données", f"{m.data_window.get('source', '')} : {m.data_window.get('patients', '')} patients, "
                    f"apprentissage jours {m.data_window.get('train_days')}, "
                    f"test jours {m.data_window.get('test_days')}"),
        ("Performance (période de test)",
         f"AUC ROC {_pct(metrics.get('roc_auc'))}{interval('model_roc_auc')} ; AUC PR {_pct(metrics.get('pr_auc'))}"
         f"{interval('model_pr_auc')} ; Brier {_pct(metrics.get('brier'))} ; pente de calibration "
         f"{_pct(metrics.get('calibration_slope'))}. Règle de poids : AUC ROC {_pct(rule.get('roc_auc'))}, "
         f"AUC PR {_pct(rule.get('pr_auc'))}."),
        ("Limites", LIMITS),
    ):
        doc.set_font(style="B")
        _para(doc, 6, title)
        doc.set_font(style="")
        _para(doc, 5, text)
        doc.ln(1)
    bins = metrics.get("reliability", [])
    if bins:
        doc.set_font(style="B")
        _para(doc, 6, "Calibration (fréquence observée selon le risque prédit)")
        top = max([0.05] + [max(b["predicted"], b["observed"]) for b in bins]) * 1.1
        x, y, side = doc.l_margin + 10, doc.get_y() + 4, 60
        doc.set_draw_color(150, 150, 150)
        doc.line(x, y + side, x + side, y)
        doc.set_draw_color(0, 0, 0)
        doc.line(x, y + side, x + side, y + side)
        doc.line(x, y + side, x, y)
        doc.set_draw_color(0, 90, 156)
        pts = [(x + b["predicted"] / top * side, y + side - b["observed"] / top * side) for b in bins]
        for a, b in itertools.pairwise(pts):
            doc.line(*a, *b)
        doc.set_y(y + side + 4)
        doc.set_font(style="")
        _para(doc, 5, f"Axes de 0 à {top:.0%} ; la diagonale est la calibration parfaite.".replace(".", ",", 1))
    rows = metrics.get("subgroups", [])
    if rows:
        doc.set_font(style="B")
        _para(doc, 6, "Sous-groupes")
        doc.set_font(style="")
        for row in rows:
            _para(doc, 5, f"{row['attribute']} {row['group']} : {row['n']} lignes, {row['events']} événements, "
                                 f"AUC ROC {_pct(row['roc_auc'])}, Brier {_pct(row['brier'])}")
    return bytes(doc.output())
