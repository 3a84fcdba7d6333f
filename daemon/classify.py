"""The classify stage: Mail + rules -> Classification (a Kind, with reasons).

`ClassifyRules.from_toml` turns the `[[rule]]` entries of rules/classify.toml into
checked rules, or raises ConfigError with every problem at once. `classify` walks the
rules in file order and the first that matches decides, as in Mailman's chains; its
name and filled-in description become the reason. The rule kinds live in
`daemon.classify_rules`; what is decided from the whole message whichever rule fired
(a bounce's failed recipients and whether the failure is permanent) lives here.

An RFQ digest (a platform mailing many buyers' requests) is kind `platform` with
`platform=None`: a platform notification, but no single lead to answer by mail.
Pure: imports only the stdlib and daemon.types, daemon.errors, daemon.classify_rules.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.classify_rules import (LEAD_FIELDS, RULE_KINDS, DefaultRule, Hit, Param,
                                   RuleKind, in_domains, keyword)
from daemon.errors import ConfigError
from daemon.types import Classification, DeliveryStatus, Kind, Mail, Reason

_RULE_KEYS = ("name", "description", "kind", "result")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FLAGS = re.IGNORECASE | re.MULTILINE
# Any rule whose result is `bounce` may also say whom the bounce names, and how badly.
BOUNCE_FILLS = frozenset({"recipients", "failure"})


@dataclass(frozen=True)
class ClassifyContext:
    """What the pipeline knows beyond the message itself."""

    own_domains: frozenset[str] = frozenset()
    refers_to_us: bool = False          # In-Reply-To/References name one of our Message-IDs


@dataclass(frozen=True, slots=True)
class ClassifyRule:
    """One entry of the rules file, checked and ready."""

    name: str
    description: str
    result: Kind
    check: RuleKind


@dataclass(frozen=True)
class ClassifyRules:
    """The rules in file order; the last is always a `default` rule."""

    rules: tuple[ClassifyRule, ...]

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str) -> ClassifyRules:
        """Rules from parsed TOML; ConfigError lists every problem as `SOURCE: rule ...`."""
        problems = [f"{source}: unknown top-level key {key!r}: only [[rule]] entries belong here"
                    for key in data if key != "rule"]
        entries = data.get("rule", [])
        if not isinstance(entries, list) or not entries:
            problems.append(f"{source}: no [[rule]] entries")
            raise ConfigError(problems)
        rules: list[ClassifyRule] = []
        for number, entry in enumerate(entries, start=1):
            rule, found = _rule(entry, number)
            label = entry.get("name") if isinstance(entry, dict) else None
            label = label if isinstance(label, str) and label else "?"
            problems += [f"{source}: rule '{label}' (entry {number}): {p}" for p in found]
            if rule:
                rules.append(rule)
        problems += _order_problems(entries, source)
        if problems:
            raise ConfigError(problems)
        return cls(tuple(rules))


def _order_problems(entries: list[Any], source: str) -> list[str]:
    """Names must be unique, and exactly one `default` rule must come last."""
    problems = []
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    for name in sorted({n for n in names if isinstance(n, str) and names.count(n) > 1}):
        problems.append(f"{source}: rule '{name}': the name is used {names.count(name)} times")
    kinds = [e.get("kind") if isinstance(e, dict) else None for e in entries]
    for number, kind in enumerate(kinds[:-1], start=1):
        if kind == DefaultRule.KIND:
            problems.append(f"{source}: rule '{entries[number - 1].get('name')}' (entry "
                            f"{number}): a 'default' rule decides everything left, so it "
                            "must be the last")
    if kinds[-1] != DefaultRule.KIND:
        problems.append(f"{source}: the last rule must be of kind 'default' (it decides "
                        "what no other rule did)")
    return problems


def _rule(entry: object, number: int) -> tuple[ClassifyRule | None, list[str]]:
    """One entry checked: the rule, or None and what is wrong with it."""
    if not isinstance(entry, dict):
        return None, ["is not a table: write it as [[rule]] with keys below"]
    problems = _common_problems(entry)
    kind = entry.get("kind")
    kind_class = RULE_KINDS.get(kind) if isinstance(kind, str) else None
    if kind_class is None:
        problems.append(f"unknown kind {entry.get('kind')!r}; known kinds: "
                        f"{', '.join(RULE_KINDS)}" if "kind" in entry else "missing kind")
        return None, problems
    params, param_problems = _params(entry, kind_class.PARAMS)
    problems += param_problems + _placeholder_problems(entry, kind_class.FILLS)
    check = None
    if not param_problems:
        try:  # the kind's own checks of how its parameters fit together
            check = kind_class(**params)
        except ValueError as exc:
            problems.append(str(exc))
    if problems or check is None:
        return None, problems
    return ClassifyRule(entry["name"], entry["description"], Kind(entry["result"]), check), []


def _common_problems(entry: dict[str, Any]) -> list[str]:
    problems = []
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        problems.append("missing name" if not name else "name must be a text")
    elif not _NAME.fullmatch(name):
        problems.append(f"name {name!r} is not kebab-case (lower-case words joined by '-')")
    if not isinstance(entry.get("description"), str) or not entry["description"].strip():
        problems.append("missing description (the words a salesperson sees as the reason)")
    result = entry.get("result")
    if not isinstance(result, str) or result not in {k.value for k in Kind}:
        problems.append(f"unknown result kind {result!r}; use one of "
                        f"{', '.join(k.value for k in Kind)}" if result else "missing result")
    return problems


def _placeholder_problems(entry: dict[str, Any], fills: frozenset[str]) -> list[str]:
    allowed = fills | (BOUNCE_FILLS if entry.get("result") == Kind.BOUNCE else frozenset())
    problems = []
    for key in ("description", "otherwise_description"):
        text = entry.get(key)
        if not isinstance(text, str):
            continue
        try:
            used = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            problems.append(f"{key}: {exc} (write {{{{ and }}}} for a literal brace)")
            continue
        unknown = [f for f in used if f not in allowed]
        for placeholder in unknown:
            problems.append(f"{key}: unknown placeholder {{{placeholder}}}; this rule "
                            f"fills {', '.join(sorted(allowed)) or 'none'}")
        if not unknown:
            try:  # a format spec such as {hits:d} would otherwise fail on the first mail
                text.format_map(dict.fromkeys(allowed, ""))
            except (ValueError, KeyError, IndexError) as exc:
                problems.append(f"{key}: cannot be filled in: {exc}")
    return problems


def _params(entry: dict[str, Any], spec: dict[str, Param]) -> tuple[dict[str, Any], list[str]]:
    """The kind's parameters converted to their types, and what is wrong with them."""
    params: dict[str, Any] = {}
    problems = [f"unknown parameter {key!r}" + (f"; this kind takes {', '.join(spec)}"
                                                if spec else "; this kind takes none")
                for key in entry if key not in _RULE_KEYS and key not in spec]
    for key, param in spec.items():
        if key not in entry:
            if param.required:
                problems.append(f"missing parameter {key!r}")
            continue
        try:
            params[key] = _CONVERT[param.type](entry[key])
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    return params, problems


def _texts(value: object) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("must be a text or a list of texts")
    return tuple(values)


def _regexes(value: object) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in _texts(value):
        try:
            compiled.append(re.compile(pattern, _FLAGS))
        except re.error as exc:
            raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    return tuple(compiled)


def _typed(kind: type, what: str) -> Callable[[object], Any]:
    def convert(value: object) -> Any:
        # TOML's true is also an int to Python; a count must not accept it.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"must be {what}")
        if kind is str and not str(value).strip():
            raise ValueError(f"must be {what}")
        return value
    return convert


def _kind(value: object) -> Kind:
    if not isinstance(value, str) or value not in {k.value for k in Kind}:
        raise ValueError(f"unknown kind {value!r}; use one of {', '.join(k.value for k in Kind)}")
    return Kind(str(value))


def _fields(value: object) -> tuple[tuple[str, re.Pattern[str]], ...]:
    if not isinstance(value, dict):
        raise ValueError("must be a table of lead field = regex")
    wrong = [key for key in value if key not in LEAD_FIELDS]
    if wrong:
        raise ValueError(f"unknown lead field {', '.join(map(repr, wrong))}; use "
                         f"{', '.join(LEAD_FIELDS)}")
    return tuple((key, pattern) for key in value for pattern in _regexes(value[key]))


_CONVERT: dict[str, Callable[[object], Any]] = {
    "text": _typed(str, "a non-empty text"), "texts": _texts, "regexes": _regexes,
    "flag": _typed(bool, "true or false"), "count": _typed(int, "a whole number"),
    "kind": _kind, "fields": _fields}


# --------------------------------------------------------------------- deciding


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""  # placeholders are checked at load; this only guards hand-built rules


def classify(mail: Mail, rules: ClassifyRules, context: ClassifyContext) -> Classification:
    """The kind of `mail`, decided by the first matching rule, with its reason."""
    for rule in rules.rules:
        hit = rule.check.check(mail, context)
        if hit is not None:
            return _decision(mail, rule, hit, context)
    return Classification(Kind.OTHER, (Reason("no-rule", "No rule matched this message"),))


def _decision(mail: Mail, rule: ClassifyRule, hit: Hit,
              context: ClassifyContext) -> Classification:
    kind = hit.kind or rule.result
    values = _Values(hit.values)
    bounced: tuple[str, ...] = ()
    permanent = False
    if kind == Kind.BOUNCE:
        bounced = failed_recipients(mail, context.own_domains)
        permanent = is_permanent(mail)
        values["recipients"] = ", ".join(bounced) or "not named"
        values["failure"] = "permanent" if permanent else "temporary or not stated"
    text = (hit.description or rule.description).format_map(values)
    return Classification(kind, (Reason(rule.name, text),), platform=hit.platform,
                          bounced=bounced, permanent_failure=permanent)


# ------------------------------------------------------------ bounce recipients

_ATOM = r"A-Za-z0-9.!#$%&'*+/=?^_`{|}~-"
# Not inside a longer word: "mailboxfull@x" must not yield "full@x".
_ADDR = rf"(?<![{_ATOM}])[{_ATOM}]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_ADDRESS = re.compile(_ADDR)
# How mail servers set out the failed address: "<addr>: reason" (Postfix, qmail), an
# address alone on its line (Exim, Notes), Final-Recipient, RCPT TO, Amazon SES JSON.
_RECIPIENT_LINES = tuple(re.compile(p, _FLAGS) for p in (
    rf"^[ \t>]*<?({_ADDR})>?[ \t]*:",
    rf"^[ \t]*(?:final|original)-recipient:[ \t]*(?:rfc822;)?[ \t]*<?({_ADDR})",
    rf"^[ \t]*(?:[*•-][ \t]*)?<?({_ADDR})>?[ \t]*$",
    rf"\brcpt to[ \t]*:?[ \t]*<?({_ADDR})",
    rf'\\?"emailAddress\\?"\s*:\s*\\?"({_ADDR})',
))
# Looser: the first address within a few lines after words that introduce it.
_RECIPIENT_AFTER = re.compile(
    r"\b(?:following (?:list of )?(?:address(?:es)?|recipients?)|could not be delivered to|"
    r"did not reach|failure reasons|failed addresses|your message to|recipient[ \t]*:?|"
    r"undeliverable to|not a member of|"
    r"(?:was|were|wasn't|could not be|couldn't be|has not been) delivered to|"
    r"unable to deliver[^\n]{0,40}? to|error delivering your mail to|"
    r"delivery (?:to[^\n]{0,40}?)?(?:failed|delayed)|"
    r"(?:user|mailbox|address)(?: unknown| not found| rejected)?)"
    rf"[\s\S]{{0,200}}?<?({_ADDR})", _FLAGS)
_TO_LINE = re.compile(r"^[ \t>]*(?:to|x-failed-recipients)[ \t]*:(.*)$", _FLAGS)
_MESSAGE_ID = re.compile(r"^[ \t>]*(?:message-id|in-reply-to|references)[ \t]*:\s*<([^<>\s]+)>",
                         _FLAGS)
_MAILER_DAEMON = re.compile(r"mailer-?daemon", re.I)
_MAX_BOUNCED = 20


def failed_recipients(mail: Mail, own_domains: frozenset[str]) -> tuple[str, ...]:
    """Who a bounce says could not be reached: its report, else its wording."""
    loose = _filter(mail, own_domains, strict=False)
    reported = [_reported(d) for d in mail.delivery_status if _failed(d.action, d.status)]
    if found := tuple(dict.fromkeys(a for a in reported if "@" in a and loose(a))):
        return found[:_MAX_BOUNCED]
    # Exim and Google name the failed addresses in a header when there is no report.
    header = [a.strip().strip("<>").lower() for a in mail.x_failed_recipients.split(",")]
    if found := tuple(dict.fromkeys(a for a in header if "@" in a and loose(a))):
        return found[:_MAX_BOUNCED]
    body = f"{mail.text}\n{mail.quoted}"
    stated = _clean([m.group(1) for p in _RECIPIENT_LINES for m in p.finditer(body)], loose)
    if stated:
        return stated
    # Looser wording may also name whoever the bounce went to (us, the original sender).
    strict = _filter(mail, own_domains, strict=True, body=body)
    return (_clean([m.group(1) for m in _RECIPIENT_AFTER.finditer(body)], strict)
            # Last resort: the To of the returned copy of our message is whom we wrote to.
            or _clean([m.group(1) for m in _TO_LINE.finditer(body)], strict))


def _reported(block: DeliveryStatus) -> str:
    """The address a report block names, as written: "<@relay:a@b>" gives a@b."""
    field = block.final_recipient or block.original_recipient
    address = field.rpartition(";")[2].strip().strip("<>").lower()
    if address.startswith("@"):
        return address.rpartition(":")[2]
    # Exim names a pipe or file it could not deliver to: "|/bin/prog user@host args".
    return address if " " not in address else next(iter(_ADDRESS.findall(address)[-1:]), "")


def _failed(action: str, status: str) -> bool:
    word = keyword(action)
    return word in {"failed", "delayed", ""} or status.strip()[:1] in {"4", "5"}


def _filter(mail: Mail, own_domains: frozenset[str], strict: bool,
            body: str = "") -> Callable[[str], bool]:
    """Never our domains nor the bouncer; when `strict`, nor the bounce's To and Cc,
    nor the Message-IDs of the returned copy (they look like addresses)."""
    excluded = {mail.from_.email if mail.from_ else ""}
    if strict:
        excluded |= {a.email for a in (*mail.to, *mail.cc)}
        excluded |= {m.group(1).lower() for m in _MESSAGE_ID.finditer(body)}

    def keep(address: str) -> bool:
        local, _, domain = address.rpartition("@")
        return (address not in excluded and not in_domains(domain, own_domains)
                and not _MAILER_DAEMON.fullmatch(local))
    return keep


def _clean(values: list[str], keep: Callable[[str], bool]) -> tuple[str, ...]:
    """The addresses in `values`, lower-case, once each, those `keep` allows."""
    found = (a.lower() for value in values for a in _ADDRESS.findall(value))
    return tuple(dict.fromkeys(a for a in found if keep(a)))[:_MAX_BOUNCED]


# --------------------------------------------------------- permanent or not

_ENHANCED_5 = re.compile(r"(?<![\d.])5\.\d{1,3}\.\d{1,3}(?![\d.])")
_SMTP_5 = re.compile(r"(?<![\d.])5[0-5]\d(?=[ -][A-Za-z<(#])", re.M)
_PERMANENT_WORDS = re.compile(
    r"permanent|fatal|user unknown|unknown user|no such (?:user|mailbox|address|recipient)|"
    r"does ?n[o']t exist|address rejected|not found|invalid (?:recipient|address|mailbox)|"
    r"host unknown|unknown host|mailbox (?:unavailable|is full|full|disabled)|"
    r"account (?:is )?(?:disabled|closed|inactive)|not a member|rejected|refused|"
    r"не существует|не доставлено|存在しません|宛先不明", re.I)
_DELAY_WORDS = re.compile(
    r"\bdelay(?:ed)?\b|will (?:continue to )?(?:retry|try)|still (?:being )?(?:retried|trying)|"
    r"not yet been delivered|could not send mail for past|warning", re.I)


def is_permanent(mail: Mail) -> bool:
    """True when retrying cannot help: a 5.x.x status, or wording that says so."""
    if mail.delivery_status:
        statuses = [d.status.strip() for d in mail.delivery_status]
        if any(s.startswith("5") for s in statuses):
            return True
        if any(s.startswith("4") for s in statuses):
            return False
        return any(keyword(d.action) == "failed" for d in mail.delivery_status)
    body = f"{mail.subject}\n{mail.text}\n{mail.quoted}"
    coded = bool(_ENHANCED_5.search(body) or _SMTP_5.search(body))
    if _DELAY_WORDS.search(f"{mail.subject}\n{mail.text}") and not coded:
        return False
    return coded or bool(_PERMANENT_WORDS.search(body))
