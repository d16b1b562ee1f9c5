"""Pure rules of telesurveillance: measures, programmes, unit conversion, plausibility, the incremental rule
engine, adherence and the operator forfait. No I/O here.

Regulatory frame (DOMAIN.md §2.4, §3): the arrêtés of 22 June 2023 (one per indication) and of 23 February
2024 (implantable cardiac devices) fix each programme's minimum data, collection frequency and alert types;
they do **not** fix numeric thresholds. Every numeric threshold below is a *configurable default* that the
operator overrides per patient, and each rule names its source. Non-transmission alerts "ne peuvent pas être
désactivées par l'opérateur" (arrêté IC of 22 June 2023): a programme that requires one refuses to disable it.

The engine is incremental: ``evaluate(rules, state, readings)`` takes a patient's compact state (last reading
per measure, the lowest value of each recent local day, the open conditions) and returns the new state and the
alert events, without ever reading the patient's history again.
"""

