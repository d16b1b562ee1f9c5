"""The FHIR R4 interface: an entry point above the capabilities, mounted at ``/fhir`` (docs/fhir.md)."""
