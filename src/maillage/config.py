"""One Settings class for the whole platform, read from the environment (prefix ``MAILLAGE_``).

Embedded defaults make ``make run`` work with nothing but Python: SQLite in ``var/``,
blobs in ``var/blobs/``. Outside development, placeholder secrets are refused at start-up.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-insecure-change-me"  # noqa: S105 - the placeholder that is refused outside development


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILLAGE_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Field(default_factory=lambda: Path.cwd() / "var")
    database_url: str = ""
    secret_key: str = PLACEHOLDER_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    log_level: str = "INFO"
    log_json: bool = True

    # Worker
    worker_poll_seconds: float = 1.0
    job_max_attempts: int = 5
    job_backoff_base_seconds: float = 5.0
    job_backoff_max_seconds: float = 3600.0

    # Teleconsultation: the ICE servers the browsers use (space-separated stun: / turn: URLs). None by default:
    # peers on one network (and loopback) connect without.
    teleconsultation_ice_servers: str = ""
    # TURN with time-limited credentials (coturn's "use-auth-secret"): the secret shared with the TURN server, and
    # how long a credential handed to a browser stays valid. Empty secret: the turn: URLs get no credential.
    teleconsultation_turn_secret: SecretStr = SecretStr("")
    teleconsultation_turn_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)

    # Database
    statement_timeout_ms: int = 30_000
    # A `Server-Timing: sql;dur=…;desc="N"` header on each response: the request's SQL statements and their time
    # (maillage.web.metrics). Off by default: timings help an attacker; benchmarks/web_load.py turns it on.
    server_timing: bool = False
    # Threads per serve process that run the synchronous routes and their database work (anyio's pool, 40 by
    # default), and the database connections each process keeps for them: one per thread, plus a few for the
    # work done outside them (the live worklist's checks, metrics). Python runs one thread at a time: more threads
    # than this only queue on the interpreter lock while holding connections, and the audit chain's lock with
    # them (docs/adr/0012-web-tier-under-load.md). Four per process: what the CPU per request measured best on two
    # cores (docs/adr/0014-web-tier-threads-and-documents.md); raise it where routes wait on slow peers.
    web_threads: int = Field(default=4, ge=1, le=256)
    db_pool_extra: int = Field(default=4, ge=0, le=256)

    # Audit trail: access traces kept at least six rolling months (CSP, DOMAIN.md §7.2); the purge refuses less
    audit_retention_days: int = Field(default=183, ge=1)
    # The key that seals the chain and signs its checkpoints, outside the database (maillage.audit.keys):
    # "id:base64key,..." (first = active), otherwise the files of audit_key_dir (default var_dir / "audit-keys").
    audit_keys: SecretStr = SecretStr("")
    audit_key_dir: Path | None = None
    # Signed checkpoints of the chain's head, in a place the database administrator does not control (append-only
    # files; default var_dir / "audit-checkpoints"), written every audit_checkpoint_minutes by the worker: the
    # deletion of the newest entries is detected unless it falls within that window (docs/adr/0004).
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_minutes: int = Field(default=10, ge=1, le=24 * 60)

    # Analytics (read side): engine, warehouse, small-cell threshold, pseudonym key held outside the data
    analytics_engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[2]"
    warehouse_dir: Path | None = None  # default: var_dir / "warehouse"
    small_cell_threshold: int = Field(default=11, ge=2)
    pseudonym_key_file: Path | None = None  # default: var_dir / "keys" / "analytics-pseudonym.keys"

    # Telesurveillance MQTT bridge (``maillage ingest-mqtt``): the broker gateways publish to
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_client_id: str = "maillage-ingest"
    mqtt_username: str = ""
    mqtt_password: SecretStr = SecretStr("")

    # Encryption at rest (maillage.vault): key-encryption keys from "id:base64key,..." (first = active),
    # otherwise from the files of key_dir; largest document accepted by the blob store.
    vault_keys: SecretStr = SecretStr("")
    blob_max_bytes: int = 100 * 1024 * 1024

    # Operators' endpoints. /metrics and the API documentation (/api/docs, /api/openapi.json) are open in
    # development and test; in production /metrics answers only ``Authorization: Bearer <metrics_token>``
    # (404 while no token is set) and the API documentation only a signed-in professional or an API token.
    metrics_token: SecretStr = SecretStr("")

    # Authentication (see docs/security.md)
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    cookie_secure: bool | None = None  # None: Secure everywhere except plain-HTTP loopback
    login_max_failures: int = 5
    lockout_base_minutes: int = 15
    lockout_max_minutes: int = 24 * 60
    login_address_max_failures: int = 30
    login_address_window_minutes: int = 15
    api_token_max_days: int = 365
    totp_issuer: str = "Maillage"
    password_hash_profile: Literal["rfc9106_low_memory", "cheapest"] = "rfc9106_low_memory"  # noqa: S105
    # Account-wide lock-out applies only to addresses the account has not signed in from for this many days;
    # every (account, address) pair has its own progressive lock-out (docs/security.md, threat 1).
    login_known_address_days: int = Field(default=30, ge=1)
    one_time_password_hours: int = Field(default=24, ge=1, le=72)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated addresses or
    # networks ("10.0.0.5, 10.1.0.0/24"). Empty: the TCP peer is the client, whatever the headers say.
    trusted_proxies: str = ""
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)

    # Pro Santé Connect (maillage.integrations.psc, docs/security.md "Pro Santé Connect"). Off while the issuer is
    # empty: the login page then shows no PSC button. The issuer is the provider's base URL (its discovery document
    # is at <issuer>/.well-known/openid-configuration); client id and secret are those the ANS registered for the
    # platform; the assurance level is asked with acr_values and an ID token below it is refused.
    psc_issuer: str = ""
    psc_client_id: str = ""
    psc_client_secret: SecretStr = SecretStr("")
    psc_scopes: str = "openid scope_all"
    psc_acr: Literal["eidas1", "eidas2", "eidas3"] = "eidas1"
    psc_timeout_seconds: float = Field(default=10.0, gt=0)
    psc_login_minutes: int = Field(default=10, ge=1, le=60)  # how long a started sign-in waits for the return
    psc_clock_skew_seconds: int = Field(default=60, ge=0, le=600)

    # Authorization
    break_glass_minutes: int = 240
    break_glass_min_reason_chars: int = 15

    # Limits on what a caller may send or ask (see docs/security.md, threat 13)
    max_body_bytes: int = 1_048_576           # JSON and forms
    max_upload_bytes: int = 25 * 1_048_576    # multipart uploads (documents, photos)
    max_json_depth: int = 32
    api_rate_per_minute_account: int = 600    # per signed-in account or token
    api_rate_per_minute_address: int = 1200   # per client address
    rate_limit_enabled: bool = True
    # Where the API rate limit counts: "memory" (per process: one process; no database write per API request, which
    # the per-request budgets of tests/web hold) or "database" (shared by every serve process: set it for several
    # servers behind a proxy, docs/operations.md).
    rate_limit_store: Literal["database", "memory"] = "memory"

    # Patient documents (maillage.document, docs/adr/0007-document-uploads.md): what one upload may be
    document_max_bytes: int = Field(default=20 * 1_048_576, ge=1)
    document_max_image_pixels: int = Field(default=50_000_000, ge=1)  # Pillow's MAX_IMAGE_PIXELS follows it
    document_max_pdf_pages: int = Field(default=500, ge=1)
    document_max_per_owner: int = Field(default=500, ge=1)  # live documents attached to one patient or request

    # Telesurveillance: child processes per serve process that evaluate large batches (more than 50 readings), at a
    # lower priority, so that single readings are not queued behind them (PostgreSQL only, and only for a serve
    # process that opened its own engine; 0: in the serve process). See maillage/monitoring/batchpool.py.
    monitoring_batch_processes: int = Field(default=2, ge=0, le=16)

    # Tele-expertise billing (DOMAIN.md §2.3, uncertain): billable TE2 per patient per specialist per calendar year
    teleexpertise_yearly_cap: int = Field(default=4, ge=1)

    # Email notifications (maillage.outbox through the SMTP port of maillage.integrations.mail). Off by default:
    # development and the demo notify in the application only. Bodies carry a link, never health data.
    smtp_enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "Maillage <ne-pas-repondre@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    # MSSanté-shaped exchange (maillage.exchange through maillage.integrations.mssante): the platform's applicative
    # mailbox, SMTP to send and IMAP to read, both over TLS. Off by default. ``mssante_filing_username`` names the
    # account under which documents matched by a qualified INS are filed automatically (the legal entity responsible
    # for the applicative mailbox designates it); without it every received document waits in the reception inbox.
    mssante_enabled: bool = False
    mssante_address: str = "maillage@mssante.localhost"
    mssante_smtp_host: str = "127.0.0.1"
    mssante_smtp_port: int = Field(default=587, ge=1, le=65535)
    mssante_smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    mssante_imap_host: str = "127.0.0.1"
    mssante_imap_port: int = Field(default=993, ge=1, le=65535)
    mssante_imap_security: Literal["starttls", "ssl"] = "ssl"
    mssante_username: str = ""
    mssante_password: SecretStr = SecretStr("")
    mssante_ca_file: str = ""  # a private CA to trust (tests, a lab operator); empty: the system's CAs
    mssante_timeout_seconds: float = Field(default=20.0, gt=0)
    mssante_poll_seconds: int = Field(default=60, ge=5)
    mssante_max_message_bytes: int = Field(default=30 * 1_048_576, ge=1)
    mssante_source_oid: str = "1.2.250.1.999.1"  # the platform's OID as XDS sourceId and CDA custodian
    mssante_filing_username: str = ""
    mssante_trusted_domains: str = "mssante.fr"  # comma-separated: the trust space's domains

    @model_validator(mode="after")
    def _check_trusted_proxies(self) -> Settings:
        self.trusted_proxy_networks  # noqa: B018 - raises ValueError on a malformed entry, at start-up
        return self

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        entries = [e.strip() for e in self.trusted_proxies.split(",") if e.strip()]
        try:
            return tuple(ipaddress.ip_network(e, strict=False) for e in entries)
        except ValueError as exc:
            raise ValueError(f"MAILLAGE_TRUSTED_PROXIES: not an address or network: {exc}") from exc

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "MAILLAGE_SECRET_KEY must be set to a random value of at least 32 characters "
                    "outside development"
                )
            if not self.database_url:
                raise ValueError("MAILLAGE_DATABASE_URL must be set in production")
            if self.password_hash_profile != "rfc9106_low_memory":  # noqa: S105 - a profile name, not a secret
                raise ValueError("MAILLAGE_PASSWORD_HASH_PROFILE=cheapest is for test suites, never production")
            if 0 < len(self.metrics_token.get_secret_value()) < 32:
                raise ValueError("MAILLAGE_METRICS_TOKEN must be a random value of at least 32 characters")
            if self.smtp_enabled and self.smtp_username and self.smtp_security == "none":
                raise ValueError("MAILLAGE_SMTP_SECURITY=none would send the SMTP password in clear: "
                                 "use starttls or ssl outside development")
        return self

    @property
    def psc_enabled(self) -> bool:
        return bool(self.psc_issuer and self.psc_client_id)

    @property
    def operator_pages_open(self) -> bool:
        """/metrics and the API documentation are open to anyone outside production only."""
        return self.environment != "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'maillage.sqlite3').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.var_dir / "blobs"

    @property
    def key_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def effective_audit_key_dir(self) -> Path:
        return self.audit_key_dir or self.var_dir / "audit-keys"

    @property
    def effective_audit_checkpoint_dir(self) -> Path:
        return self.audit_checkpoint_dir or self.var_dir / "audit-checkpoints"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
