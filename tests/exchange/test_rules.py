"""Pure rules of the MSSanté exchange: addresses of the trust space, the X-MSS-* headers (Référentiel socle MSSanté
#2, ECO.2.4.1 and ECO.2.4.2, DOMAIN §5.1), dangerous attachments."""

from __future__ import annotations

import pytest

from maillage.exceptions import ValidationFailed
from maillage.exchange import rules

TRUST = ("mssante.fr",)


class TestCheckAddress:
    @pytest.mark.parametrize("address", ["dr.leroy@chu-nantes.mssante.fr", "Secretariat.Cardio@ch-x.MSSANTE.fr",
                                         "a@mssante.fr"])
    def test_an_address_of_the_trust_space_is_accepted_in_lower_case(self, address):
        assert rules.check_address(f"  {address} ", TRUST) == address.lower()

    @pytest.mark.parametrize(("address", "message"), [
        ("", "Indiquez"), ("pas-une-adresse", "invalide"), ("a@b", "invalide"),
        ("dr.leroy@gmail.com", "espace de confiance"), ("dr@mssante.fr.evil.com", "espace de confiance"),
        ("dr@notmssante.fr", "espace de confiance"),
    ])
    def test_other_addresses_are_refused_in_french(self, address, message):
        with pytest.raises(ValidationFailed, match=message):
            rules.check_address(address, TRUST)


class TestHeaders:
    def test_a_cda_with_an_ins_sets_codecda_and_ins(self):
        """ECO.2.4.1: X-MSS-CODECDA = the CDA's code; ECO.2.4.2: X-MSS-INS when the CDA carries the INS."""
        assert rules.mss_headers(["11488-4"], True) == {"X-MSS-CODECDA": "11488-4", "X-MSS-INS": "O"}

    def test_without_the_ins_only_the_code(self):
        assert rules.mss_headers(["11488-4"], False) == {"X-MSS-CODECDA": "11488-4"}

    def test_several_cda_make_a_multi_valued_header(self):
        assert rules.mss_headers(["11488-4", "34133-9"], False)["X-MSS-CODECDA"] == "11488-4, 34133-9"

    def test_without_a_cda_no_header_at_all(self):
        """ECO.2.4.1: absent when no CDA is attached in an IHE_XDM archive."""
        assert rules.mss_headers([], True) == {}


class TestDangerous:
    @pytest.mark.parametrize(("name", "data"), [
        ("a.exe", b"anything"), ("rapport.pdf", b"MZ\x90\x00"), ("x.bin", b"\x7fELF..."),
        ("courrier.docm", b"PK.."), ("courrier.docx", b"PK\x03\x04...vbaProject.bin..."),
        ("vieux.doc", b"whatever"), ("note.pdf", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 ole"), ("s.sh", b"#!/bin/sh"),
    ])
    def test_executables_scripts_and_macro_documents_are_dangerous(self, name, data):
        assert rules.is_dangerous(name, data)

    @pytest.mark.parametrize(("name", "data"), [
        ("cr.pdf", b"%PDF-1.7"), ("photo.jpg", b"\xff\xd8\xff\xe0"), ("IHE_XDM.ZIP", b"PK\x03\x04 metadata"),
    ])
    def test_documents_and_archives_are_not(self, name, data):
        assert not rules.is_dangerous(name, data)
