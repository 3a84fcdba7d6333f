"""Typed, frozen settings loaded from one TOML file.

Every mistake is reported as ``FILE: key.path: what is wrong``, all of them at once,
as a ConfigError; nothing here prints or exits. Passwords are never read from the TOML:
each secret names a file (a systemd credential works) or an environment variable.
Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from datetime import date, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from daemon.errors import ConfigError
from daemon.rulebook import toml_problem

DEFAULT_CONFIG = Path("inquiryd.toml")

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_cron_time(value: str) -> str:
    """Accept ``HH:MM`` or a five-field crontab line; return it unchanged."""
    from apscheduler.triggers.cron import CronTrigger

    value = value.strip()
    if _HHMM.match(value):
        return value
    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is neither HH:MM nor a crontab line "
            f"('minute hour day month weekday'): {exc}"
        ) from None
    return value


CronTime = Annotated[str, AfterValidator(parse_cron_time)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Company(_Section):
    """The company profile every reply carries (domain.md: a serious company)."""

    name: str
    founded: int | None = Field(default=None, ge=1800, le=2100)
    total_assets: str = ""
    annual_sales: str = ""
    awards: tuple[str, ...] = ()
    contact_person: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""
    address: str = ""
    strengths: tuple[str, ...] = ()
    own_domains: tuple[str, ...] = ()
    sales_manager: str = ""  # "Name <email>": gets the monthly A-grade list (a_list_job.py)
    # Deal terms stated by confirmation letters, PIs and contracts where the buyer agreed
    # nothing else (daemon/deal_terms.py); "" or none: inquiryd's usual terms.
    payment_terms: str = ""
    packaging: str = ""
    port: str = ""                                   # port of loading, e.g. "Ningbo"
    lead_time_days: int | None = Field(default=None, ge=1, le=365)
    bank: tuple[str, ...] = ()                       # the bank lines a PI carries

    @field_validator("sales_manager")
    @classmethod
    def _one_address(cls, value: str) -> str:
        from email.utils import parseaddr

        address = parseaddr(value)[1] if value else ""
        local, _, domain = address.rpartition("@")
        if value and not (local and "." in domain and " " not in address):
            raise ValueError(f"{value!r} is not an address; write \"Name <name@example.com>\" "
                             "or just name@example.com")
        return value


class Mailbox(_Section):
    """One sales mailbox: an IMAP account or a local Maildir."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["imap", "maildir"] = "imap"
    host: str = ""
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    ca_file: Path | None = None
    username: str = ""
    password_file: Path | None = None
    password_env: str | None = None
    folders: tuple[str, ...] = ("INBOX",)
    path: Path | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    sender: str = ""
    # The [[salesperson]] who reads this mailbox: the new buyers who write to it are
    # theirs, and replies to their buyers leave from this mailbox's sender address.
    salesperson: str = ""

    @model_validator(mode="after")
    def _complete(self) -> Mailbox:
        if self.kind == "maildir" and self.path is None:
            raise ValueError("a maildir mailbox needs 'path'")
        if self.kind == "imap":
            missing = [k for k in ("host", "username") if not getattr(self, k)]
            if missing:
                raise ValueError(f"an imap mailbox needs {', '.join(missing)}")
            if not (self.password_file or self.password_env):
                raise ValueError("an imap mailbox needs password_file or password_env")
        if not self.folders:
            raise ValueError("'folders' is empty: name at least one, e.g. [\"INBOX\"]")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "implicit" else 143)


class Smtp(_Section):
    """The outgoing server; every message leaves From the configured sender."""

    host: str = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Literal["implicit", "starttls", "none"] = "starttls"
    ca_file: Path | None = None
    username: str = ""
    password_file: Path | None = None
    password_env: str | None = None
    sender: str = ""
    timeout_seconds: float = Field(default=60.0, gt=0)

    @property
    def effective_port(self) -> int:
        return self.port or {"implicit": 465, "starttls": 587, "none": 25}[self.tls]


class Schedule(_Section):
    """When things happen, in the company's time zone."""

    timezone: str = "Asia/Shanghai"
    polls: tuple[CronTime, ...] = ("08:30", "12:30", "17:30")
    poll_interval_minutes: int = Field(default=0, ge=0)
    review_sweep_seconds: int = Field(default=60, ge=5)
    followups: CronTime = "09:00"
    # The monthly A-grade list: the job runs at these times and sends only from the first
    # working day (Mon-Fri) of the month on, once a month (a_list_job.py).
    reports: CronTime = "0 8 * * mon-fri"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as 'Asia/Shanghai')"
            ) from None
        return value

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)


class Review(_Section):
    """Where drafts wait for a person: a shared folder, or IMAP folders of a mailbox."""

    backend: Literal["folder", "imap"] = "folder"
    path: Path | None = None  # default: <paths.state>/review
    imap_mailbox: str = ""    # backend "imap": the [[mailbox]] (kind "imap") holding them
    imap_prefix: str = "Inquiries"  # its folders: <prefix>/Pending, /Approved, ...

    @field_validator("imap_prefix")
    @classmethod
    def _folder_path(cls, value: str) -> str:
        if not all(value.split("/")) or any(c in value for c in "%*\\"):
            raise ValueError(f"{value!r} is not a folder path: write it like \"Inquiries\" "
                             "or \"Sales/Inquiries\" (no empty parts, no % * \\)")
        return value


def review_problems(settings: Settings, path: Path) -> list[str]:
    """What is wrong with [review] given the mailboxes (backend "imap" names one)."""
    review = settings.review
    if review.backend != "imap":
        return []
    imap = [m.name for m in settings.mailbox if m.kind == "imap"]
    choices = f"one of: {', '.join(imap)}" if imap else "there is none: add one"
    if not review.imap_mailbox:
        return [f'{path}: review.imap_mailbox: required with backend = "imap": name the '
                f"[[mailbox]] whose IMAP folders hold the drafts ({choices})"]
    if review.imap_mailbox not in imap:
        return [f"{path}: review.imap_mailbox: no imap mailbox named "
                f"{review.imap_mailbox!r} ({choices})"]
    return []


class Database(_Section):
    """SQLite under state/ by default; PostgreSQL by URL."""

    url: str = ""
    # Instances sharing a PostgreSQL database renew their leases every third of this; a
    # stopped instance's polls, messages and jobs are taken over once it has passed.
    lease_seconds: int = Field(default=60, ge=10, le=3600)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("use a sqlite:/// or postgresql+psycopg:// URL")
        return value


class Paths(_Section):
    rules: Path = Path("rules")
    templates: Path = Path("templates")
    state: Path = Path("state")


class Sending(_Section):
    per_minute: int = Field(default=30, ge=1, le=10_000)
    max_attempts: int = Field(default=5, ge=1)
    retry_base_seconds: int = Field(default=60, ge=1)
    retry_max_seconds: int = Field(default=3600, ge=1)
    followups_without_review: bool = False
    # Newsletters (campaigns.py): the weekly cap shared with follow-ups, the optional
    # one-click unsubscribe URL (RFC 8058), soft bounces before an address is bounced.
    max_automatic_per_week: int = Field(default=2, ge=1)
    unsubscribe_url: str = Field(default="", pattern=r"^(https://\S+)?$")
    soft_bounce_limit: int = Field(default=3, ge=1)
    soft_bounce_window_days: int = Field(default=30, ge=1)
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_attachments_total_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)


class Ingest(_Section):
    """How mail is fetched and what a message may be before it is set aside."""

    batch_size: int = Field(default=200, ge=1, le=5000)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_depth: int = Field(default=50, ge=1)
    max_parts: int = Field(default=500, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    failures_before_unhealthy: int = Field(default=3, ge=1)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=60.0, gt=0)


class Salesperson(_Section):
    """One salesperson: their drafts wait in their own review folder (daemon/owners.py)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    email: str = ""
    review_path: Path | None = None  # default: <review path>/<name>
    absent: tuple[tuple[date, date], ...] = ()  # [["2026-12-20", "2027-01-05"], ...]
    covered_by: str = ""  # the colleague who reviews their drafts while they are away
    signature: str = ""  # the end of their drafts (several lines); default: their name

    @field_validator("absent")
    @classmethod
    def _ordered(cls, value: tuple[tuple[date, date], ...]) -> tuple[tuple[date, date], ...]:
        for start, end in value:
            if end < start:
                raise ValueError(f"absence ends ({end}) before it starts ({start})")
        return value


class Owners(_Section):
    """How a new buyer's owner is chosen: product, then region, then the default."""

    by_region: dict[str, str] = Field(default_factory=dict)
    by_product: dict[str, str] = Field(default_factory=dict)
    default: str = ""


def owner_problems(settings: Settings, path: Path) -> list[str]:
    """Names in [owners], covered_by and mailbox.salesperson that are no [[salesperson]],
    repeated names, and two mailboxes for one salesperson."""
    people = [p.name for p in settings.salesperson]
    readers = [b.salesperson for b in settings.mailbox if b.salesperson]
    problems = [f"{path}: mailbox[{i}].salesperson: no salesperson named {b.salesperson!r} "
                f"(add a [[salesperson]] with name = {b.salesperson!r})"
                for i, b in enumerate(settings.mailbox)
                if b.salesperson and b.salesperson not in people]
    problems += [f"{path}: mailbox: salesperson {n!r} reads two mailboxes; replies to their "
                 "buyers could leave from either: give each salesperson one"
                 for n in sorted({n for n in readers if readers.count(n) > 1})]
    return problems + _owner_name_problems(settings, path, people)


def _owner_name_problems(settings: Settings, path: Path, people: list[str]) -> list[str]:
    owners = settings.owners
    named = [*(("by_region", k, v) for k, v in owners.by_region.items()),
             *(("by_product", k, v) for k, v in owners.by_product.items())]
    if not people:
        if named or owners.default:
            return [f"{path}: owners: no [[salesperson]] is configured: add one for each "
                    "name the rules use"]
        return []
    choices = f"one of: {', '.join(people)}"
    problems = [f"{path}: salesperson: names must be unique; repeated: {n}"
                for n in sorted({n for n in people if people.count(n) > 1})]
    for table, key, name in named:
        if name not in people:
            problems.append(f"{path}: owners.{table}.{key}: no salesperson named {name!r} "
                            f"({choices})")
    if owners.default and owners.default not in people:
        problems.append(f"{path}: owners.default: no salesperson named {owners.default!r} "
                        f"({choices})")
    for i, person in enumerate(settings.salesperson):
        if person.covered_by and person.covered_by not in people:
            problems.append(f"{path}: salesperson[{i}].covered_by: no salesperson named "
                            f"{person.covered_by!r} ({choices})")
        elif person.covered_by == person.name:
            problems.append(f"{path}: salesperson[{i}].covered_by: {person.name} cannot "
                            "cover for themselves: name a colleague")
    if settings.review.backend != "folder":
        problems.append(f'{path}: salesperson: review folders per salesperson need '
                        f'[review] backend = "folder"')
    return problems


class Settings(_Section):
    """The whole configuration. `source` is the file it came from."""

    company: Company
    mailbox: tuple[Mailbox, ...]
    smtp: Smtp = Smtp()
    schedule: Schedule = Schedule()
    review: Review = Review()
    database: Database = Database()
    paths: Paths = Paths()
    sending: Sending = Sending()
    ingest: Ingest = Ingest()
    salesperson: tuple[Salesperson, ...] = ()
    owners: Owners = Owners()
    source: Path = Path("inquiryd.toml")

    @field_validator("mailbox")
    @classmethod
    def _unique_names(cls, value: tuple[Mailbox, ...]) -> tuple[Mailbox, ...]:
        if not value:
            raise ValueError("no mailbox configured: add a [[mailbox]] table")
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"mailbox names must be unique; repeated: {', '.join(dupes)}")
        return value

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.paths.state / 'inquiryd.db'}"

    def salesperson_mailbox(self, name: str) -> Mailbox | None:
        """The mailbox `name` reads (mailbox.salesperson), if any."""
        return next((b for b in self.mailbox if name and b.salesperson == name), None)

    def reply_mailbox(self, owner: str, came_to: str) -> str:
        """The mailbox our mail to a buyer leaves from: their owner's own mailbox when
        the owner reads one (same buyer, same salesperson, same address), else the one
        the buyer's mail came to ('' for none: smtp.sender)."""
        owned = self.salesperson_mailbox(owner)
        return owned.name if owned else came_to

    def person(self, name: str) -> Salesperson | None:
        return next((p for p in self.salesperson if p.name == name), None)

    @property
    def review_path(self) -> Path:
        return self.review.path or self.paths.state / "review"

    @property
    def review_paths(self) -> list[Path]:
        """Every review folder: the shared one, then each salesperson's (once each)."""
        paths = [self.review_path]
        for person in self.salesperson:
            path = self.salesperson_review_path(person.name)
            if path not in paths:
                paths.append(path)
        return paths

    def salesperson_review_path(self, name: str) -> Path:
        """The review folder of one salesperson (the shared one for an unknown name)."""
        person = next((p for p in self.salesperson if p.name == name), None)
        if person is None:
            return self.review_path
        return person.review_path or self.review_path / person.name

    def secret(self, section: Mailbox | Smtp) -> str:
        """The password of a mailbox or the SMTP account ('' when none is set)."""
        return self._secrets.get(_secret_key(section), "")

    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)
    _secret_problems: list[str] = PrivateAttr(default_factory=list)

    @property
    def secret_problems(self) -> list[str]:
        """Passwords that could not be read (only kept when require_secrets=False)."""
        return self._secret_problems


def _secret_key(section: Mailbox | Smtp) -> str:
    return f"mailbox:{section.name}" if isinstance(section, Mailbox) else "smtp"


def load(
    path: Path | str = DEFAULT_CONFIG,
    *,
    environ: dict[str, str] | None = None,
    require_secrets: bool = True,
) -> Settings:
    """Read, validate and resolve the config; raise ConfigError listing every mistake.

    With require_secrets=False (checks that log in nowhere), a password that cannot be
    read is listed in `settings.secret_problems` instead of raised.
    """
    path = Path(path)
    data = _read_toml(path)
    try:
        settings = Settings.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise ConfigError([f"{path}: {_where(e)}: {_what(e)}" for e in exc.errors()]) from None
    problems = review_problems(settings, path) + owner_problems(settings, path)
    if problems:
        raise ConfigError(problems)
    settings = _resolve_paths(settings, path.parent.absolute())
    problems = _load_secrets(settings, os.environ if environ is None else environ)
    if problems and require_secrets:
        raise ConfigError(problems)
    settings._secret_problems = problems
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (write a starter with 'inquiryd init DIR', or pass -c FILE)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_problem(path, exc)) from None


def _where(error: Any) -> str:
    parts: list[str] = []
    for item in error["loc"]:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        elif item in {"function-after[_complete()]"}:
            continue
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _what(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        if loc and loc[-1] == "password":
            return "passwords are never kept in the config: use password_file or password_env"
        return "unknown key (check the spelling against inquiryd.example.toml)"
    if kind == "missing":
        return "required, but missing"
    if msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    return f"{msg} (got {error.get('input')!r})" if "input" in error and kind != "model_type" else msg


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Make every relative path relative to the config file's folder."""

    def fix(p: Path | None) -> Path | None:
        if p is None or str(p).startswith("$"):
            return p  # "$CREDENTIALS_DIRECTORY/..." is expanded when the secret is read
        p = p.expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else base / p))

    paths = Paths(**{k: fix(v) for k, v in settings.paths.model_dump().items()})
    mailboxes = tuple(
        m.model_copy(update={"path": fix(m.path), "password_file": fix(m.password_file),
                             "ca_file": fix(m.ca_file)})
        for m in settings.mailbox
    )
    smtp = settings.smtp.model_copy(
        update={"password_file": fix(settings.smtp.password_file),
                "ca_file": fix(settings.smtp.ca_file)}
    )
    return settings.model_copy(
        update={
            "paths": paths,
            "mailbox": mailboxes,
            "smtp": smtp,
            "review": settings.review.model_copy(update={"path": fix(settings.review.path)}),
            "salesperson": tuple(p.model_copy(update={"review_path": fix(p.review_path)})
                                 for p in settings.salesperson),
        }
    )


def _load_secrets(settings: Settings, environ: Any) -> list[str]:
    problems: list[str] = []
    secrets: dict[str, str] = {}
    sections: list[tuple[str, Mailbox | Smtp]] = [
        (f"mailbox[{i}]", m) for i, m in enumerate(settings.mailbox)
    ]
    if settings.smtp.username:
        sections.append(("smtp", settings.smtp))
    for where, section in sections:
        try:
            secrets[_secret_key(section)] = read_secret(section.password_file, section.password_env, environ)
        except ValueError as exc:
            problems.append(f"{settings.source}: {where}.{exc}")
    settings._secrets = secrets
    return problems


def read_secret(file: Path | None, env: str | None, environ: Any) -> str:
    """Read one password; a ValueError's text starts with the key at fault."""
    if file is not None:
        file = Path(string.Template(str(file)).safe_substitute(environ))
        try:
            value = file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"password_file: cannot read {file}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"password_file: {file} is empty")
        return value
    if env:
        if env not in environ:
            raise ValueError(f"password_env: environment variable {env} is not set")
        return environ[env]
    return ""
