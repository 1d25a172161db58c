"""crm_writer configuration, from the environment (see the README's table)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from yarl import URL

from services.crm_writer.mapping_file import MappingFile, MappingFileError, load_mapping_file
from services.crm_writer.store import check_store_url
from services.crm_writer.templates import TemplateError, TitleTemplate
from shared.logging import register_secret
from shared.settings import ServiceSettings

DEFAULT_RD_BASE_URL = "https://crm.rdstation.com/api/v1"
RD_APP_DEALS_URL = "https://crm.rdstation.com/app/deals/"
DEFAULT_CLICKSIGN_API_BASE_URL = "https://app.clicksign.com"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8090/api/v1"
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105 - the bundled sandbox's public, fake token
# A history API token shorter than this is refused: it guards signers' personal data.
MIN_API_TOKEN_LENGTH = 16


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def require_https(url: str, variable: str, secret: str) -> str:
    """``url`` when it is https (or plain http to this machine, e.g. a local sandbox): the API
    tokens travel in the query string, readable by anyone on the path of plain http."""
    parsed = URL(url)
    if parsed.scheme == "https" and parsed.host:
        return url
    if parsed.scheme == "http" and parsed.host in _LOOPBACK_HOSTS:
        return url
    raise ValueError(
        f"{variable} must be an https:// URL ({secret} travels in its query string); plain "
        "http:// is allowed only for a sandbox on this machine (localhost, 127.0.0.1)"
    )


class CrmWriterSettings(ServiceSettings):
    crm_writer_host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on all interfaces
    crm_writer_port: int = Field(8081, ge=1, le=65535)
    crm_writer_prefetch: int = Field(8, ge=1, le=500)
    # Deprecated and ignored (one warning at start-up): with PostgreSQL the replicas share one RD
    # budget in the store. Still read for one release so that setting it is not an error.
    crm_writer_replicas: int | None = Field(None, ge=1)
    crm_writer_shutdown_timeout_seconds: float = Field(25.0, gt=0)
    crm_writer_max_attempts: int = Field(8, ge=1)
    crm_writer_max_retry_age_seconds: float = Field(6 * 3600, gt=0)
    crm_writer_backlog_poll_seconds: float = Field(15.0, gt=0)

    rdstation_crm_token: SecretStr | None = None
    rdstation_crm_base_url: str = DEFAULT_RD_BASE_URL
    rdstation_sandbox_url: str = DEFAULT_SANDBOX_URL
    rdstation_deal_stage_id: str | None = None
    rdstation_deal_owner_id: str | None = None
    rdstation_document_key_field_id: str | None = None
    rdstation_rate_limit_per_minute: int = Field(120, ge=1)
    rdstation_timeout_seconds: float = Field(15.0, gt=0)

    # Step 2 of the Pluga guide: Clicksign's API token (Configurações → API). Unset: thin
    # webhooks are not completed (docs/clicksign.md).
    clicksign_access_token: SecretStr | None = None
    clicksign_api_base_url: str = DEFAULT_CLICKSIGN_API_BASE_URL

    deal_title_template: str = "{document.filename} - {signer.name}"
    store_url: str = "sqlite:///data/signdeal.db"
    signdeal_config: Path | None = None

    # The history (signers' personal data): who may read it, and for how long it is kept.
    crm_writer_api_token: SecretStr | None = None
    history_retention_days: int = 90

    @field_validator("rdstation_crm_token", "clicksign_access_token", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rdstation_crm_base_url")
    @classmethod
    def _token_travels_encrypted(cls, value: str) -> str:
        return require_https(value, "RDSTATION_CRM_BASE_URL", "the RD token")

    @field_validator("clicksign_api_base_url")
    @classmethod
    def _clicksign_token_travels_encrypted(cls, value: str) -> str:
        return require_https(value, "CLICKSIGN_API_BASE_URL", "the Clicksign token").rstrip("/")

    @field_validator("crm_writer_api_token", mode="before")
    @classmethod
    def _blank_api_token_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("crm_writer_api_token")
    @classmethod
    def _long_api_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_API_TOKEN_LENGTH:
            raise ValueError(
                f"is shorter than {MIN_API_TOKEN_LENGTH} characters: use a random one, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @field_validator("history_retention_days", mode="before")
    @classmethod
    def _positive_retention(cls, value: object) -> object:
        try:
            days = int(str(value).strip())
        except ValueError:
            raise ValueError("must be a whole number of days, e.g. 90 (the default)") from None
        if days < 1:
            raise ValueError("must be 1 or more: the days history rows are kept (default 90)")
        return days

    @field_validator("deal_title_template")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        try:
            TitleTemplate(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("store_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        return check_store_url(value)

    # Parsed once, when the settings are read: start-up and the CLI then share one copy.
    _mapping: MappingFile | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_mapping_file(self) -> CrmWriterSettings:
        if self.signdeal_config is not None:
            try:
                self._mapping = load_mapping_file(self.signdeal_config)
            except MappingFileError as exc:
                raise ValueError(f"SIGNDEAL_CONFIG {exc}") from None
        return self

    def mapping_file(self) -> MappingFile | None:
        """The validated mapping file, if ``SIGNDEAL_CONFIG`` names one."""
        return self._mapping

    @model_validator(mode="after")
    def _stage_required_with_token(self) -> CrmWriterSettings:
        if self.rdstation_crm_token is not None and not self.rdstation_deal_stage_id:
            raise ValueError(
                "RDSTATION_DEAL_STAGE_ID is required with RDSTATION_CRM_TOKEN: "
                "`signdeal rd stages` lists the stages with their ids (it needs only the token)"
            )
        return self

    @property
    def uses_sandbox(self) -> bool:
        return self.rdstation_crm_token is None

    @property
    def rd_base_url(self) -> str:
        return self.rdstation_sandbox_url if self.uses_sandbox else self.rdstation_crm_base_url

    @property
    def clicksign_token(self) -> str | None:
        token = self.clicksign_access_token
        return None if token is None else token.get_secret_value()

    @property
    def api_token(self) -> str | None:
        """The history API token, or None: then the history answers loopback clients only."""
        token = self.crm_writer_api_token
        return None if token is None else token.get_secret_value()

    def deal_web_url(self, deal_id: str) -> str:
        """Where a person sees a deal: RD Station CRM's web app, or, in sandbox mode, the
        sandbox's deal page (the deal and its contacts, no token needed). The page, the CLI and
        send-test all link here."""
        path = URL.build(path=deal_id).raw_path
        if self.uses_sandbox:
            page = URL(self.rd_base_url).with_path(f"/__sandbox/deals/{path}", encoded=True)
            return str(page.with_query(None))
        base = URL(self.rdstation_crm_base_url)
        if self.rdstation_crm_base_url.rstrip("/") == DEFAULT_RD_BASE_URL or not base.host:
            return RD_APP_DEALS_URL + path
        return str(base.with_path(f"/app/deals/{path}", encoded=True).with_query(None))

    @property
    def rd_token(self) -> str:
        token = self.rdstation_crm_token
        return SANDBOX_TOKEN if token is None else token.get_secret_value()

    def register_secrets(self) -> None:
        """Mask the RD, Clicksign and history tokens and the broker and store passwords in
        every log line."""
        if self.rdstation_crm_token is not None:
            register_secret(self.rdstation_crm_token.get_secret_value())
        register_secret(self.clicksign_token)
        register_secret(self.api_token)
        register_secret(URL(self.amqp_url).password)
        register_secret(URL(self.store_url).password)
