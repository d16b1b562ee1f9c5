"""Predictive medicine under control: a calibrated, explained, evaluated risk model of heart-failure
decompensation within 14 days, compared with the programme's own weight rule (docs/predict.md)."""
