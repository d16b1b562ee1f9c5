"""JSON routes of e-prescription: the published verification keys of the platform's prescription signatures."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from maillage.kit.http import UnitOfWorkRoute
from maillage.prescription import service

router = APIRouter(prefix="/api/prescriptions", tags=["prescriptions"], route_class=UnitOfWorkRoute)


class VerificationKey(BaseModel):
    key_id: str
    algorithm: str
    public_key: str


@router.get("/verification-keys", response_model=list[VerificationKey])
def verification_keys() -> list[dict[str, str]]:
    """Public Ed25519 keys (raw, base64) that verify the signature of a prescription's canonical content."""
    return service.verification_keys()
