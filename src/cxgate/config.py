"""Runtime settings (flags and environment) and the TOML configuration, validated once at startup.

Section and option names follow GMS's own options so that a GMS administrator recognises them.
Every problem is reported as a `ConfigError` naming the file and the bad key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cxgate.errors import BadRequest, ConfigError
from cxgate.journey.times import parse_duration

DEFAULT_STORE = "sqlite:///var/cxgate.db"
DEFAULT_MAX_BODY = 10 * 1024 * 1024

ParamValue = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSection(_Strict):
    access_code_prefix: str | None = None  # "9" or a range "7-9": the first digit of codes
    username: str | None = None
    password: str | None = None
    max_body_size: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BODY
    max_key_length: Annotated[int, Field(gt=0, le=65536)] = 1024
    max_keys: Annotated[int, Field(gt=0)] = 1000  # keys in one write
    max_area_keys: Annotated[int, Field(gt=0)] = 10_000  # keys one service or storage area holds
    strategy_timeout: Annotated[float, Field(gt=0)] = 10.0  # seconds for an HTTP strategy call
    sweep_interval: Annotated[float, Field(gt=0)] = 30.0  # seconds between expiry sweeps
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the APIs
    rate_limit: str | None = None  # per client, `limits` notation such as "50/second"
    body_timeout: Annotated[float, Field(gt=0)] = 30.0  # seconds to receive a whole body
    max_value_size: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BODY  # bytes in one value
    max_json_depth: Annotated[int, Field(gt=0, le=256)] = 32  # nesting of a JSON body

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from limits import parse

            try:
                parse(value)
            except ValueError as exc:
                raise ValueError("must read like '50/second' or '1000 per minute'") from exc
        return value

    @field_validator("access_code_prefix")
    @classmethod
    def _prefix_is_digit_or_range(cls, value: str | None) -> str | None:
        if value is None:
            return None
        low, _, high = value.partition("-")
        if not (
            low.isdigit()
            and len(low) == 1
            and (not high or (high.isdigit() and len(high) == 1 and low <= high))
        ):
            raise ValueError("must be one digit such as '9' or a range such as '7-9'")
        return value

    def code_first_digits(self) -> str:
        if self.access_code_prefix is None:
            return "0123456789"
        low, _, high = self.access_code_prefix.partition("-")
        return "".join(str(d) for d in range(int(low), int(high or low) + 1))


class ServiceSection(BaseModel):
    """`[service.NAME]`: `_`-prefixed keys other than the known ones are default parameters."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    type: Literal["builtin", "http"] = Field(alias="_type")
    service: str = Field(alias="_service")
    ttl: Annotated[int, Field(gt=0)] = Field(default=30, alias="_ttl")
    overwritable_options: tuple[str, ...] = Field(default=(), alias="_overwritable_options")
    username: str | None = None
    password: str | None = None

    @model_validator(mode="after")
    def _extra_keys_are_parameters(self) -> ServiceSection:
        for key, value in (self.model_extra or {}).items():
            if not key.startswith("_"):
                raise ValueError(f"unknown option {key!r} (service parameters start with '_')")
            if not isinstance(value, ParamValue):
                raise ValueError(f"parameter {key!r} must be a string, number or boolean")
        return self

    @property
    def parameters(self) -> dict[str, str]:
        """Configured parameters as GMS sees them: text (booleans as `true`/`false`)."""
        out = {}
        for key, value in (self.model_extra or {}).items():
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


class ResourceSection(_Strict):
    numbers: Annotated[tuple[str, ...], Field(min_length=1)]
    allocation: Literal["round-robin", "random"] = "round-robin"


class UserSection(_Strict):
    password_hash: str
    roles: tuple[Literal["agent", "supervisor", "admin", "apiuser"], ...] = ()


class CsSection(_Strict):
    expiration: str | int = "2w"  # how long a service lives without ttl/expiration_time
    auto_complete_after: str | int | None = None  # end services idle this long (default: never)
    tenants: tuple[str, ...] | None = None
    export_dir: str = "var/export"
    export_file_size: Annotated[int, Field(gt=0)] = 1000
    page_size: Annotated[int, Field(gt=0)] = 100  # services in a query answer without `limit`
    max_page_size: Annotated[int, Field(gt=0)] = 1000  # the largest `limit` a query may ask for

    @field_validator("expiration", "auto_complete_after")
    @classmethod
    def _is_duration(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            try:
                parse_duration(value, field="duration")
            except BadRequest as exc:
                raise ValueError("must be seconds or a duration: 30s, 10m, 2h, 3d, 2w") from exc
        return value

    @model_validator(mode="after")
    def _page_fits(self) -> CsSection:
        if self.page_size > self.max_page_size:
            raise ValueError(
                f"page_size ({self.page_size}) must not exceed max_page_size ({self.max_page_size})"
            )
        return self


class VoiceSection(_Strict):
    uri: str
    backup_uri: str | None = None

    @field_validator("uri", "backup_uri")
    @classmethod
    def _is_sip_uri(cls, value: str | None) -> str | None:
        from cxgate.status.sip import parse_sip_uri

        if value is not None:
            parse_sip_uri(value)  # its ValueError names the problem
        return value


class StatusSection(_Strict):
    interval: Annotated[float, Field(gt=0)] = 5.0  # seconds between two rounds of probes
    timeout: Annotated[float, Field(gt=0)] = 2.0  # seconds before a silent probe means Inactive


class CometdSection(_Strict):
    """`[cometd]`: the Bayeux advice given to clients and the server's limits."""

    timeout_ms: Annotated[int, Field(ge=0)] = 30000  # how long a /meta/connect is held
    interval_ms: Annotated[int, Field(ge=0)] = 0  # pause clients make between two connects
    max_interval_ms: Annotated[int, Field(gt=0)] = 60000  # silence after which a session ends
    max_message_bytes: Annotated[int, Field(gt=0)] = 65536
    max_queue: Annotated[int, Field(gt=0)] = 1000  # messages held per session between connects


class FileConfig(_Strict):
    server: ServerSection = ServerSection()
    service: dict[str, ServiceSection] = {}
    resources: dict[str, ResourceSection] = {}
    users: dict[str, UserSection] = {}
    cs: CsSection = CsSection()
    voice: dict[str, VoiceSection] = {}
    status: StatusSection = StatusSection()
    cometd: CometdSection = CometdSection()

    @model_validator(mode="after")
    def _passwords_are_hashed(self) -> FileConfig:
        _refuse_plain_text("server.password", self.server.password)
        for name, svc in self.service.items():
            _refuse_plain_text(f"service.{name}.password", svc.password)
        for name, user in self.users.items():
            _refuse_plain_text(f"users.{name}.password_hash", user.password_hash)
        return self

    @model_validator(mode="after")
    def _builtins_exist_and_groups_are_defined(self) -> FileConfig:
        from cxgate.gms.builtins import BUILTINS

        for name, svc in self.service.items():
            if svc.type == "builtin" and svc.service not in BUILTINS:
                known = ", ".join(sorted(BUILTINS))
                raise ValueError(
                    f"service.{name}._service: unknown built-in {svc.service!r} (one of {known})"
                )
            if svc.type == "http" and not svc.service.startswith(("http://", "https://")):
                raise ValueError(f"service.{name}._service: an http service needs an http(s) URL")
            group = svc.parameters.get("_resource_group")
            if group is not None and group not in self.resources:
                raise ValueError(f"service.{name}._resource_group: no [resources.{group}] table")
        return self


def _refuse_plain_text(where: str, value: str | None) -> None:
    from cxgate.auth.passwords import looks_hashed

    if value is not None and not looks_hashed(value):
        raise ValueError(
            f"{where}: plain-text passwords are refused; store the output of "
            "`cxgate hash-password` instead"
        )


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_config(text: str, *, source: str) -> FileConfig:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _location(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown option"
            problems.append(f"{where}: {message}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from exc


def load_config(path: Path | None) -> FileConfig:
    if path is None:
        return FileConfig()
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from exc
    return parse_config(text, source=str(path))


@dataclass(frozen=True)
class Settings:
    """What `cxgate serve` was started with: flags, environment, and the parsed file."""

    host: str = "127.0.0.1"
    port: int = 8080
    store: str = DEFAULT_STORE
    bus: str = "memory://"
    workers: int = 1
    config_path: Path | None = None
    journey_store: str | None = None  # Context Services' SQL store; None: see journey_store_url
    config: FileConfig = field(default_factory=FileConfig)
