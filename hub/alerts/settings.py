"""The `[alerts]` config section: channels, routes, waits, limits, duty and maintenance contacts.

Credentials never come from the file: `with_env` fills them from HUB_TWILIO_AUTH_TOKEN, HUB_WECOM_KEY,
HUB_DINGTALK_TOKEN, HUB_DINGTALK_SECRET, HUB_WEBHOOK_SECRET, HUB_ALIYUN_ACCESS_KEY_SECRET,
HUB_ALIYUN_CALLBACK_TOKEN, HUB_TENCENT_SECRET_KEY and HUB_TENCENT_CALLBACK_TOKEN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.alerts.policy import POLICIES
from hub.alerts.templates import MESSAGE_KINDS, PARAM_NAMES, VOICE_KINDS

ENV_TWILIO_TOKEN = "HUB_TWILIO_AUTH_TOKEN"
ENV_WECOM_KEY = "HUB_WECOM_KEY"
ENV_DINGTALK_TOKEN = "HUB_DINGTALK_TOKEN"
ENV_DINGTALK_SECRET = "HUB_DINGTALK_SECRET"
ENV_WEBHOOK_SECRET = "HUB_WEBHOOK_SECRET"
ENV_ALIYUN_SECRET = "HUB_ALIYUN_ACCESS_KEY_SECRET"
ENV_ALIYUN_CALLBACK = "HUB_ALIYUN_CALLBACK_TOKEN"
ENV_TENCENT_SECRET = "HUB_TENCENT_SECRET_KEY"
ENV_TENCENT_CALLBACK = "HUB_TENCENT_CALLBACK_TOKEN"

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonConfig(_Section):
    """A person the hub may call: district duty officer or maintenance staff."""

    name: str
    phone: str


class TwilioConfig(_Section):
    """Twilio SMS and voice; enabled when `account_sid` and `from_number` are set (token from env)."""

    account_sid: str = ""
    from_number: str = ""
    # A Twilio-compatible endpoint; the default is Twilio itself.
    api_base: str = "https://api.twilio.com"
    auth_token: str = Field(default="", exclude=True, repr=False)

    @property
    def enabled(self) -> bool:
        """True when outgoing messages can be sent."""
        return bool(self.account_sid and self.from_number and self.auth_token)


class GsmConfig(_Section):
    """A GSM modem on a serial port (pyserial URL); enabled when `url` is set.

    `voice` names the modem family whose text-to-speech and DTMF commands the wellbeing call uses
    ("simcom": AT+CTTS / AT+DDET, "quectel": AT+QTTS / AT+QTONEDET); "none" asks the elder by SMS only.
    """

    url: str = ""
    baudrate: int = 115200
    command_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    voice: Literal["none", "simcom", "quectel"] = "none"
    # How long the elder's phone may ring, and how long after the prompt the call waits for a key.
    ring_timeout_s: Annotated[float, Field(gt=0)] = 45.0
    key_timeout_s: Annotated[float, Field(gt=0)] = 30.0


class RobotConfig(_Section):
    """A chat robot or webhook endpoint; enabled when `url` is set (key/secret from env)."""

    url: str = ""
    token: str = Field(default="", exclude=True, repr=False)  # WeCom key / DingTalk access token
    secret: str = Field(default="", exclude=True, repr=False)  # DingTalk / webhook signing secret


def _check_values(where: str, values: list[str]) -> None:
    unknown = [v for v in values if v not in PARAM_NAMES]
    if unknown:
        raise ValueError(f"{where}: unknown value(s) {unknown}; known: {sorted(PARAM_NAMES)}")


class NamedTemplate(_Section):
    """An Aliyun template: its code and, per template variable, the hub value that fills it."""

    code: Annotated[str, Field(min_length=1)]
    params: dict[str, str] = Field(default_factory=dict)  # template variable → hub value name

    @model_validator(mode="after")
    def _known(self) -> NamedTemplate:
        _check_values(f"template {self.code}", list(self.params.values()))
        return self


class OrderedTemplate(_Section):
    """A Tencent Cloud template: its id and the hub values that fill its {1}, {2}, … in order."""

    id: Annotated[str, Field(min_length=1)]
    params: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known(self) -> OrderedTemplate:
        _check_values(f"template {self.id}", self.params)
        return self


def _check_kinds(templates: Mapping[str, object], need: tuple[str, ...], what: str) -> None:
    """Refuse a template map that lacks a kind the hub sends, or names a kind it does not know."""
    unknown = sorted(set(templates) - set(MESSAGE_KINDS))
    if unknown:
        raise ValueError(f"{what}: unknown message kind(s) {unknown}; known: {list(MESSAGE_KINDS)}")
    missing = [kind for kind in need if kind not in templates]
    if missing:
        described = "; ".join(f"{kind}（{MESSAGE_KINDS[kind]}）" for kind in missing)
        raise ValueError(f"{what}: no template for message kind(s) {described}")


class AliyunConfig(_Section):
    """Aliyun SMS (dysmsapi) and voice (dyvmsapi); enabled when `access_key_id` is set (secret from env).

    SMS is usable when `sign_name` and `sms_templates` are set, voice when `called_show_number` and
    `voice_templates` are; each template map must name every message kind the channel may carry.
    """

    access_key_id: str = ""
    sign_name: str = ""  # the registered 短信签名
    sms_endpoint: str = "dysmsapi.aliyuncs.com"
    voice_endpoint: str = "dyvmsapi.aliyuncs.com"
    protocol: str = "https"  # "http" only for a local test server
    sms_templates: dict[str, NamedTemplate] = Field(default_factory=dict)
    called_show_number: str = ""  # the purchased number the calls come from
    voice_templates: dict[str, NamedTemplate] = Field(default_factory=dict)  # TTS template codes
    key_reply_code: str = ""  # TTS template played after a keypress (IvrCall MenuKeyMap)
    # Aliyun: a single template variable is 1-35 characters.
    max_param_chars: Annotated[int, Field(ge=1)] = 35
    access_key_secret: str = Field(default="", exclude=True, repr=False)
    callback_token: str = Field(default="", exclude=True, repr=False)

    @model_validator(mode="after")
    def _complete(self) -> AliyunConfig:
        if not self.access_key_id:
            return self
        if self.sms_templates or self.sign_name:
            if not self.sign_name:
                raise ValueError("aliyun.sign_name is required for SMS")
            _check_kinds(self.sms_templates, tuple(MESSAGE_KINDS), "aliyun.sms_templates")
        if self.voice_templates or self.called_show_number:
            if not self.called_show_number or not self.key_reply_code:
                raise ValueError("aliyun.called_show_number and aliyun.key_reply_code are required for voice")
            _check_kinds(self.voice_templates, VOICE_KINDS, "aliyun.voice_templates")
        return self

    @property
    def sms_enabled(self) -> bool:
        """True when SMS can be sent."""
        return bool(self.access_key_id and self.access_key_secret and self.sign_name)

    @property
    def voice_enabled(self) -> bool:
        """True when calls can be placed."""
        return bool(self.access_key_id and self.access_key_secret and self.called_show_number)


class TencentConfig(_Section):
    """Tencent Cloud SMS and voice messages (VMS); enabled when `secret_id` is set (key from env)."""

    secret_id: str = ""
    region: str = "ap-guangzhou"
    sms_endpoint: str = "sms.tencentcloudapi.com"
    voice_endpoint: str = "vms.tencentcloudapi.com"
    protocol: str = "https"  # "http" only for a local test server
    sms_sdk_app_id: str = ""
    sign_name: str = ""
    sms_templates: dict[str, OrderedTemplate] = Field(default_factory=dict)
    voice_sdk_app_id: str = ""
    voice_templates: dict[str, OrderedTemplate] = Field(default_factory=dict)
    play_times: Annotated[int, Field(ge=1, le=3)] = 2
    # Tencent Cloud: a variable of a personal (个人认证) account's template is at most 12 characters.
    max_param_chars: Annotated[int, Field(ge=1)] = 12
    secret_key: str = Field(default="", exclude=True, repr=False)
    callback_token: str = Field(default="", exclude=True, repr=False)

    @model_validator(mode="after")
    def _complete(self) -> TencentConfig:
        if not self.secret_id:
            return self
        if self.sms_templates or self.sms_sdk_app_id:
            if not self.sms_sdk_app_id or not self.sign_name:
                raise ValueError("tencent.sms_sdk_app_id and tencent.sign_name are required for SMS")
            _check_kinds(self.sms_templates, tuple(MESSAGE_KINDS), "tencent.sms_templates")
        if self.voice_templates or self.voice_sdk_app_id:
            if not self.voice_sdk_app_id:
                raise ValueError("tencent.voice_sdk_app_id is required for voice")
            _check_kinds(self.voice_templates, VOICE_KINDS, "tencent.voice_templates")
        return self

    @property
    def sms_enabled(self) -> bool:
        """True when SMS can be sent."""
        return bool(self.secret_id and self.secret_key and self.sms_sdk_app_id)

    @property
    def voice_enabled(self) -> bool:
        """True when voice messages can be sent."""
        return bool(self.secret_id and self.secret_key and self.voice_sdk_app_id)


class TightenConfig(_Section):
    """How a rule tightens itself for a home after repeated false alarms (老人自报平安 / 探访确认无事).

    After `min_count` false alarms of one kind for one home within `window_days` (counted afresh after each
    change), the home's threshold factor for that kind grows by `step`, never beyond `max_factor`; the rules
    never wait beyond the tier's hard window whatever the factor.
    """

    min_count: Annotated[int, Field(ge=1)] = 3
    window_days: Annotated[int, Field(ge=1)] = 30
    step: Annotated[float, Field(gt=0)] = 0.25
    max_factor: Annotated[float, Field(ge=1)] = 2.0


def _default_routes() -> dict[str, list[str]]:
    # Channels not configured are skipped; a district lists its own order (e.g. Aliyun, Tencent, modem).
    return {
        "sms": ["twilio_sms", "aliyun_sms", "tencent_sms", "gsm_sms"],
        "voice": [
            "twilio_voice",
            "aliyun_voice",
            "tencent_voice",
            "gsm_voice",
            "twilio_sms",
            "aliyun_sms",
            "tencent_sms",
            "gsm_sms",
        ],
        "robot": ["wecom", "dingtalk", "webhook"],
    }


class AlertsConfig(_Section):
    """Everything escalation and delivery need besides the register."""

    # The base URL at which Twilio reaches this hub (signature check, callbacks, Gather action).
    public_url: str = ""
    twilio: TwilioConfig = TwilioConfig()
    gsm: GsmConfig = GsmConfig()
    wecom: RobotConfig = RobotConfig()
    dingtalk: RobotConfig = RobotConfig()
    webhook: RobotConfig = RobotConfig()
    aliyun: AliyunConfig = AliyunConfig()
    tencent: TencentConfig = TencentConfig()
    # Fallback chains: a route's channels in order; unconfigured ones are skipped, "log" always ends it.
    routes: dict[str, list[str]] = Field(default_factory=_default_routes)
    # Multiplies every step wait of the policies (e.g. 0.5 in extreme weather; tiny in tests).
    wait_scale: Annotated[float, Field(gt=0)] = 1.0
    outcome_wait_s: Annotated[int, Field(ge=1)] = 1800
    # How long the wellbeing call to the elder ("平安请按1") waits for an answer before the visitor is paged.
    elder_check_wait_s: Annotated[float, Field(gt=0)] = 600.0
    tighten: TightenConfig = TightenConfig()
    district_duty: list[PersonConfig] = Field(default_factory=list)
    maintenance: list[PersonConfig] = Field(default_factory=list)
    # Per policy name: how often (s) an exhausted chain rings its duty line again; unset = the policy's own.
    exhausted_repeat_s: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    # Repeated presses within this time of the last re-notification are told together at its end, so a
    # frightened elder pressing twenty times in a minute does not flood the people who are on their way.
    press_merge_s: Annotated[float, Field(ge=0)] = 60.0
    # Device-class alerts wait out these local hours ("22:00-07:00"; empty = never quiet).
    quiet_hours: str = "22:00-07:00"
    rate_limit_count: Annotated[int, Field(ge=1)] = 10
    rate_limit_window_s: Annotated[float, Field(gt=0)] = 600.0
    retry_base_s: Annotated[float, Field(gt=0)] = 2.0
    retry_max_s: Annotated[float, Field(gt=0)] = 300.0
    max_attempts: Annotated[int, Field(ge=1)] = 5  # per channel, before falling back to the next
    send_timeout_s: Annotated[float, Field(gt=0)] = 15.0
    poll_s: Annotated[float, Field(gt=0, le=60)] = 1.0

    @model_validator(mode="before")
    @classmethod
    def _no_secrets_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for section, key in (
                ("twilio", "auth_token"),
                ("wecom", "token"),
                ("dingtalk", "token"),
                ("dingtalk", "secret"),
                ("webhook", "secret"),
                ("aliyun", "access_key_secret"),
                ("aliyun", "callback_token"),
                ("tencent", "secret_key"),
                ("tencent", "callback_token"),
            ):
                if isinstance(data.get(section), dict) and key in data[section]:
                    raise ValueError(
                        f"{section}.{key}: secrets are not read from the file; use the environment variable"
                    )
        return data

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet(cls, v: str) -> str:
        if v and (len(v.split("-")) != 2 or not all(_HHMM.match(p) for p in v.split("-"))):
            raise ValueError(f'must look like "22:00-07:00" or be empty, got {v!r}')
        return v

    @field_validator("exhausted_repeat_s")
    @classmethod
    def _check_policies(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown policy name(s) {unknown}; known: {sorted(POLICIES)}")
        return v

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for need in ("sms", "voice", "robot"):
            if need not in v:
                raise ValueError(f"route {need!r} is missing")
        return v

    def with_env(self, env: Mapping[str, str]) -> AlertsConfig:
        """A copy with the channel credentials read from the environment."""
        return self.model_copy(
            update={
                "twilio": self.twilio.model_copy(update={"auth_token": env.get(ENV_TWILIO_TOKEN, "")}),
                "wecom": self.wecom.model_copy(update={"token": env.get(ENV_WECOM_KEY, "")}),
                "dingtalk": self.dingtalk.model_copy(
                    update={
                        "token": env.get(ENV_DINGTALK_TOKEN, ""),
                        "secret": env.get(ENV_DINGTALK_SECRET, ""),
                    }
                ),
                "webhook": self.webhook.model_copy(update={"secret": env.get(ENV_WEBHOOK_SECRET, "")}),
                "aliyun": self.aliyun.model_copy(
                    update={
                        "access_key_secret": env.get(ENV_ALIYUN_SECRET, ""),
                        "callback_token": env.get(ENV_ALIYUN_CALLBACK, ""),
                    }
                ),
                "tencent": self.tencent.model_copy(
                    update={
                        "secret_key": env.get(ENV_TENCENT_SECRET, ""),
                        "callback_token": env.get(ENV_TENCENT_CALLBACK, ""),
                    }
                ),
            }
        )
