"""Demonstration and synthetic data, built through the capabilities' services and models.

``load`` writes a whole demo territory (``territory`` plans it, ``accounts`` and ``patients`` people it,
``monitoring`` gives it a telesurveillance team and devices) for ``maillage demo`` and ``maillage serve --demo``;
``claims`` writes a synthetic SNDS into the analytics warehouse
(``maillage analytics generate-claims``) on real or ``communes`` synthetic communes. Nothing here is real data, and
nothing below this package imports it.
"""
