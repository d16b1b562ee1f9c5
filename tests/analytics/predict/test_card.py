"""The model card as a PDF and its calibration plot: what it states, from a small evaluated model."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from maillage.analytics.predict import card, pipeline, service, synthetic
from maillage.models.prediction import PredictionModel

DAY = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def small_card() -> card.ModelCard:
    cohort = synthetic.generate(150, seed=5)
    train_rows, test_rows = pipeline.temporal_split(pipeline.synthetic_dataset(cohort, every=7), 240)
    model = pipeline.train(train_rows, seed=5, grid={"num_leaves": [7], "learning_rate": [0.1], "n_estimators": [40]})
    metrics = service._json_safe(pipeline.evaluate(model, test_rows, rounds=20))
    stored = PredictionModel(name=service.MODEL_NAME, version=3, status="active", code_version="predict-test",
                             data_window={"source": "Cohorte synthétique", "patients": 150, "train_days": [0, 225],
                                          "test_days": [240, 350]},
                             metrics=metrics, artefact={}, trained_at=DAY, approved_at=DAY)
    return card.ModelCard(stored, "Dr Martin")


class TestModelCard:
    def test_the_pdf_states_use_limits_version_approval_and_figures(self):
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(card.pdf(small_card()))).pages)
        text = " ".join(text.split())
        for expected in ("version 3", "Usage prévu", "Usages exclus", "Limites", "approuvée par Dr Martin",
                         "AUC ROC", "Règle de poids", "Calibration", "Sous-groupes"):
            assert expected in text

    def test_the_calibration_plot_has_a_point_per_bin(self):
        found = small_card()
        svg = str(card.calibration_svg(found.metrics["reliability"]))
        assert svg.startswith("<svg") and svg.count("<circle") == len(found.metrics["reliability"])
