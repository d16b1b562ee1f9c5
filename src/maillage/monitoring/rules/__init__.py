"""Pure rules of telesurveillance, one module per subject, no I/O anywhere in the package:

- ``measures``: measures, codes and units, conversion, plausibility, ``Reading`` and ``normalise``, Paris days;
- ``alerting``: severity, the kinds of alert rule, the reference values a physician sets;
- ``programmes``: the programmes, one per arrêté, with their data, default rules and sources;
- ``overrides``: reference values and per-patient overrides checked, effective rules resolved;
- ``engine``: the incremental rule engine and the patient state it keeps;
- ``enrolment``: the enrolment lifecycle, its reasons, the prescription's duration;
- ``adherence``: adherence and the regulatory checks at one and two months;
- ``forfaits``: the operator forfait, its levels, enhanced periods, the level and days due per month.

This package re-exports nothing: import a name from the module that owns it.

Regulatory frame (DOMAIN.md §2.4, §3): the arrêtés of 22 June 2023 (one per indication) and of 23 February
2024 (implantable cardiac devices) fix each programme's minimum data, collection frequency and alert types;
they do **not** fix numeric thresholds. Every numeric threshold is a *configurable default* that the
operator overrides per patient, and each rule names its source. Non-transmission alerts "ne peuvent pas être
désactivées par l'opérateur" (arrêté IC of 22 June 2023): a programme that requires one refuses to disable it.

The engine is incremental: ``engine.evaluate(rules, state, readings)`` takes a patient's compact state (last
reading per measure, the lowest value of each recent local day, the open conditions) and returns the new state and
the alert events, without ever reading the patient's history again.
"""
