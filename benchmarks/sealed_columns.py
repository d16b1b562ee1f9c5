"""Cost of sealed text columns: sealing and opening one value, and the decryption a list page adds.

Run: `.venv/bin/python benchmarks/sealed_columns.py` (no database: the cipher alone, with a key directory in a
temporary folder). A tele-expertise request has five sealed columns (question, clinical context, opinion,
act, closing reason); a list loads two of them (question, closing reason: the other three are deferred), so a
list page of 50 is 100 openings, a page that loaded all five would make 250.
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

from _machine import cpu_model

from maillage.kit.logging import configure_logging
from maillage.vault import columns
from maillage.vault.keys import DirectoryKeyRing, use_keyring

TEXTS = {
    "teleexpertise_request.question": "Lésion pigmentée évolutive du dos depuis trois mois, asymétrique ? " * 3,
    "teleexpertise_request.clinical_context": "Patient de 67 ans, antécédent de mélanome chez un frère. " * 8,
    "teleexpertise_request.answer": "Aspect dermoscopique atypique : exérèse avec marges de 2 mm conseillée. " * 10,
    "teleexpertise_request.act": "Exérèse chirurgicale",
    "teleexpertise_request.closing_reason": "",
}


def per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp, use_keyring(DirectoryKeyRing.create(Path(tmp) / "keys")):
        envelopes = {scope: columns.seal_text(scope, value) for scope, value in TEXTS.items()}
        question = "teleexpertise_request.question"
        seal = per_call(lambda: columns.seal_text(question, TEXTS[question]), 5000)
        opened = per_call(lambda: columns.open_text(question, envelopes[question]), 5000)

        shown = {k: v for k, v in envelopes.items() if k.endswith(("question", "closing_reason"))}

        def list_of_50(which: dict[str, str]) -> None:
            for _ in range(50):
                for scope, envelope in which.items():
                    columns.open_text(scope, envelope)

        page = per_call(lambda: list_of_50(shown), 40)
        everything = per_call(lambda: list_of_50(envelopes), 40)
    print(f"machine: {cpu_model()} ({platform.python_version()})")
    print(f"seal one question ({len(TEXTS[question])} characters): {seal * 1e6:.0f} µs")
    print(f"open one question: {opened * 1e6:.0f} µs")
    print(f"a list page of 50 requests (question and closing reason): {page * 1e3:.1f} ms")
    print(f"the same with the five sealed columns loaded: {everything * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
