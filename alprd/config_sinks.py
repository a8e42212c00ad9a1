"""Configuration models of the outputs: the sinks (stdout, JSON lines, SQL, bus, webhooks, MQTT).

Kept apart from alprd.config so that file stays about the daemon's inputs and stages; alprd.config
re-exports every name here, so `from alprd.config import SqlSinkConfig` keeps working.
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    # as alprd.config._Model: unknown keys and infinite/NaN numbers are config errors
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def require_unique(value, keys: list[str], what: str):
    """`value` if no key repeats, else the ValueError a validator raises naming the repeats."""
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"{what} must be unique, repeated: {', '.join(sorted(dup))}")
    return value


class JsonlSinkConfig(_Model):
    enabled: bool = True
    path: str = "events.jsonl"


class StdoutSinkConfig(_Model):
    enabled: bool = True
    as_json: bool = False


class SqlSinkConfig(_Model):
    enabled: bool = True
    url: str = "sqlite:///alprd.db"
    password_env: str | None = None
    password_file: str | None = None
    store_reads: bool = False
    batch_size: int = Field(default=64, ge=1)
    flush_interval_s: float = Field(default=0.5, gt=0)
    retention_days: float | None = Field(default=None, gt=0)
    busy_timeout_s: float = Field(default=5.0, gt=0, description="SQLite: wait this long for a lock")
    retry_max_s: float = Field(default=30.0, gt=0, description="longest wait between reconnect tries")
    spool_dir: str | None = None  # None = <storage.state_dir>/spool/sql
    # Disk the spool may fill while the database is unreachable; beyond it new events are not
    # spooled (counted, logged; they still reach the other sinks). None = no limit.
    spool_max_mb: float | None = Field(default=1024.0, gt=0)


class BusSinkConfig(_Model):
    enabled: bool = True
    endpoint: str = "tcp://127.0.0.1:5556"
    sndhwm: int = Field(default=10000, ge=1)
    curve_secret_key_file: str | None = None
    curve_clients_dir: str | None = None  # public certs of allowed subscribers; None = any client


_EVENT_KIND = r"^[a-z]+\.[a-z_]+$"


class DeliveryConfig(_Model):
    """What every durable delivery sink (webhook target, MQTT) shares: its filter and its spool."""

    kinds: list[str] = Field(default_factory=list, description="event kinds sent; [] = every kind")
    cameras: list[str] = Field(default_factory=list, description="camera ids sent; [] = every camera")
    retry_max_s: float = Field(default=300.0, gt=0, description="longest wait between tries")
    # A delivery still failing this long after its event was spooled is given up (counted, logged;
    # the event stays in SQL). Measured in wall time, across restarts.
    give_up_after_s: float = Field(default=86400.0, gt=0)
    spool_dir: str | None = None
    spool_max_mb: float | None = Field(default=256.0, gt=0)

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v):
        from alprd.derived_events import ALL_KINDS  # plain data; imports no config

        bad = [k for k in v if not re.match(_EVENT_KIND, k) or k not in ALL_KINDS]
        if bad:
            raise ValueError(f"not an event kind: {', '.join(bad)} (kinds: {', '.join(ALL_KINDS)})")
        return v


class WebhookTargetConfig(DeliveryConfig):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(pattern=r"^https?://[^\s/]+", description="http:// or https:// URL")
    secret_env: str | None = None   # environment variable holding the signing secret
    secret_file: str | None = None  # or a file holding it (first line)
    headers: dict[str, str] = Field(default_factory=dict)
    attach_crop: bool = False
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True
    ca_file: str | None = None

    @model_validator(mode="after")
    def _one_secret(self):
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("set exactly one of secret_env and secret_file (deliveries are signed)")
        reserved = {h.lower() for h in self.headers} & {
            "content-type", "content-length", "host", "idempotency-key"} | {
            h.lower() for h in self.headers if h.lower().startswith("x-alprd-")}
        if reserved:
            raise ValueError(f"headers: {', '.join(sorted(reserved))} is set by alprd")
        return self


class MqttTlsConfig(_Model):
    enabled: bool = False
    ca_file: str | None = None    # None = the system's CA store
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = None
    insecure: bool = False        # skip the host name check (self-signed test brokers only)


class HomeAssistantConfig(_Model):
    enabled: bool = True
    prefix: str = Field(default="homeassistant", pattern=r"^[^#+\s]+$")
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")  # None = the host name
    lists: list[str] = Field(default_factory=list, description="plate lists to show as binary sensors")
    match_off_s: float = Field(default=10.0, gt=0, description="a list-match sensor turns off after this")


class MqttSinkConfig(DeliveryConfig):
    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = None  # None = alprd-<node id>
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    tls: MqttTlsConfig = MqttTlsConfig()
    topic_prefix: str = Field(default="alprd", pattern=r"^[^#+\s]+$")
    retain_last_plate: bool = True
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    batch_size: int = Field(default=100, ge=1, le=10000)
    retry_max_s: float = Field(default=60.0, gt=0)
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()

    @model_validator(mode="after")
    def _one_password(self):
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("set at most one of password_env and password_file")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password needs a username")
        return self


class SinksConfig(_Model):
    stdout: StdoutSinkConfig = StdoutSinkConfig()
    jsonl: JsonlSinkConfig = JsonlSinkConfig()
    sql: SqlSinkConfig = SqlSinkConfig()
    bus: BusSinkConfig = BusSinkConfig()
    webhooks: list[WebhookTargetConfig] = Field(default_factory=list)
    mqtt: MqttSinkConfig = MqttSinkConfig()

    @field_validator("webhooks")
    @classmethod
    def _unique_names(cls, v):
        return require_unique(v, [t.name for t in v], "webhook names")
