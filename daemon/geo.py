"""Countries and market regions (pure): where a buyer is, and which price sheet they get.

Built once from rules/regions.toml (country -> region) and rules/countries.toml (how a
country shows in a message: names in many languages, cities and ports, phone prefixes,
its domain). `Geo.country_from` reads the evidence in this order, and says which piece
decided, in words:

1. the signature: country names, cities, phone prefixes (+NNN or 00NNN);
2. the rest of the message, the same way;
3. the sender's country-code domain, never a generic one (.com, .io ...) or a free-mail
   provider's (mail.ru users live all over the CIS).

Within one part, each country's evidence is weighed (a name or phone prefix 3, a city
2) and the heaviest wins; a tie goes to what came first. Names that are also everyday
words or first names ("Jordan", "Georgia", "Santos") count only in context (see the
countries.toml header), and our own country (CN, `signature_only`) only in the
signature, because every buyer writes "FOB Ningbo".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from daemon.catalog import REGIONS
from daemon.errors import ConfigError
from daemon.extract.text import Folded, Hit, PhraseIndex

_CODE = re.compile(r"^[A-Z]{2}$")
_PREFIX = re.compile(r"^\+\d{1,6}$")
_TLD = re.compile(r"^[a-z]{2}$")
_COUNTRY_KEYS = {"phone", "tld", "cities", "names", "ambiguous", "signature_only"}
_REGION_KEYS = {"regions", "generic_cctlds"}
# Second levels under which even a "generic" ccTLD is national (empresa.com.co).
_NATIONAL_SECOND_LEVEL = {"com", "co", "net", "org", "gov", "edu", "ac", "or", "ne", "gob"}

# International numbers: "+971 4 555 0186", "+1 (312) 555-0148", "0086-579-8555 1234".
_PHONE = re.compile(r"(?:(?<![\w+])\+|(?<![\w\d+])00)\s?(\d[\d \-.()/]{6,22}\d)")
# What may stand before an ambiguous name for it to count: "in Jordan", "CIF Santos",
# "Country/Region: Georgia", "porto de Santos".
_CONTEXT = re.compile(
    r"(?:\b(?:in|from|to|country|region|cif|cfr|cnf|cpt|cip|dap|dpu|ddp|dat|ddu|en|aus|nach"
    r"|pais|pays|land|из|в|страна)|(?:port|porto|puerto|hafen)(?:\s+(?:of|de|do|da))?"
    r"|في|من|الى|الي|دولة)\s*[:/]?\s*$")
_JOINER = re.compile(r"^[\s,\-–/|().\d]{0,15}$")
_WEIGHT = {"country name": 3, "phone prefix": 3, "city": 2}


@dataclass(frozen=True, slots=True)
class Place:
    """What a name in the index stands for."""

    code: str
    kind: str               # "country name" or "city"
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class _Evidence:
    code: str
    kind: str
    text: str
    position: int


@dataclass(frozen=True, slots=True, eq=False)
class Geo:
    regions: Mapping[str, str]                              # code -> region
    names: Mapping[str, Mapping[str, tuple[str, ...]]]      # code -> language -> names
    places: PhraseIndex[Place] = field(repr=False)
    phones: Mapping[str, str] = field(repr=False)           # "971" -> "AE"
    tlds: Mapping[str, str] = field(repr=False)             # "uk" -> "GB"
    generic_tlds: frozenset[str] = frozenset()
    signature_only: frozenset[str] = frozenset()
    free_mail: frozenset[str] = frozenset()

    @classmethod
    def from_toml(cls, regions: Mapping[str, Any], countries: Mapping[str, Any],
                  source_names: Sequence[str], *,
                  free_mail_domains: Iterable[str] = ()) -> Geo:
        """Validate and index both files; ConfigError lists every mistake.

        `source_names` is (regions file, countries file), for the messages.
        `free_mail_domains` (the matching rules' list) are never read as a country.
        """
        builder = _Builder(source_names[0], source_names[1])
        region_map, generic = builder.regions(regions)
        builder.countries(countries, region_map)
        if builder.problems:
            raise ConfigError(builder.problems)
        return cls(
            regions=MappingProxyType(region_map), names=MappingProxyType(builder.names),
            places=builder.places, phones=MappingProxyType(builder.phones),
            tlds=MappingProxyType({**{c.lower(): c for c in region_map}, **builder.tlds}),
            generic_tlds=frozenset(generic), signature_only=frozenset(builder.home),
            free_mail=frozenset(d.strip().lower() for d in free_mail_domains))

    def region_of(self, country: str) -> str:
        """The market region of an ISO code ('' when unknown)."""
        return self.regions.get(country.strip().upper(), "")

    def name_of(self, country: str, language: str = "en") -> str:
        """The country's first name in `language` (else English, else the code)."""
        names = self.names.get(country.upper(), {})
        return (names.get(language) or names.get("en") or (country.upper(),))[0]

    def country_from(self, text: str, signature: str, email_domain: str) -> tuple[str, str]:
        """(ISO code, reason in words), or ('', '') when nothing tells."""
        for part, where in ((signature, "in the signature"), (text, "in the message")):
            found = self._best(part, body=where == "in the message")
            if found:
                return found.code, _reason(found, where)
        code = self._domain_country(email_domain)
        if code:
            return code, f"domain .{email_domain.lower().rsplit('.', 1)[-1]}"
        return "", ""

    def _best(self, text: str, body: bool) -> _Evidence | None:
        if not text.strip():
            return None
        evidence = [e for e in self._evidence(Folded.of(text))
                    if not (body and e.code in self.signature_only)]
        if not evidence:
            return None
        score: dict[str, int] = {}
        for e in evidence:
            score[e.code] = score.get(e.code, 0) + _WEIGHT[e.kind]
        top = max(score.values())
        winner = next(e.code for e in evidence if score[e.code] == top)
        mine = [e for e in evidence if e.code == winner]
        return max(mine, key=lambda e: (_WEIGHT[e.kind], e.kind == "country name",
                                        -e.position))

    def _evidence(self, text: Folded) -> list[_Evidence]:
        hits = self.places.find(text)
        found = [_Evidence(h.value.code, h.value.kind, h.text, h.start)
                 for i, h in enumerate(hits)
                 if not h.value.ambiguous or _in_context(text.folded, hits, i)]
        for m in _PHONE.finditer(text.folded):
            digits = re.sub(r"\D", "", m.group(1))
            code, prefix = self._phone_country(digits)
            if code and len(digits) >= 8:
                found.append(_Evidence(code, "phone prefix", "+" + prefix, m.start()))
        return sorted(found, key=lambda e: e.position)

    def _phone_country(self, digits: str) -> tuple[str, str]:
        for n in range(min(6, len(digits)), 0, -1):
            code = self.phones.get(digits[:n])
            if code:
                return code, self._show_prefix(digits[:n])
        return "", ""

    def _show_prefix(self, prefix: str) -> str:
        # Canada's entries are area codes and Kazakhstan's "+77" lives inside "+7":
        # shown as "+1 416" and "+7 7", the way the number is written.
        for i in range(1, len(prefix)):
            if prefix[:i] in self.phones:
                return f"{prefix[:i]} {prefix[i:]}"
        return prefix

    def _domain_country(self, domain: str) -> str:
        domain = domain.strip().lower().rstrip(".")
        if not domain or domain in self.free_mail:
            return ""
        labels = domain.split(".")
        tld = labels[-1]
        if not _TLD.match(tld):
            return ""
        if tld in self.generic_tlds and not (
                len(labels) >= 3 and labels[-2] in _NATIONAL_SECOND_LEVEL):
            return ""
        code = self.tlds.get(tld, "")
        return code if code in self.regions else ""


def _in_context(folded: str, hits: list[Hit[Place]], i: int) -> bool:
    """An ambiguous name counts after a context word, a postcode, or a same-country place."""
    hit = hits[i]
    before = folded[max(0, hit.start - 30):hit.start]
    if _CONTEXT.search(before) or re.search(r"\d{3,}[\s,]*$", before):
        return True
    if i > 0:
        prev = hits[i - 1]
        gap = folded[prev.end:hit.start]
        return prev.value.code == hit.value.code and bool(_JOINER.match(gap))
    return False


def _reason(e: _Evidence, where: str) -> str:
    if e.kind == "phone prefix":
        return f"phone prefix {e.text} {where}"
    if e.kind == "city":
        return f"city {e.text} {where}"
    return f"country name '{e.text}' {where}"


class _Builder:
    """Validation and indexing of the two files, collecting every problem."""

    def __init__(self, regions_source: str, countries_source: str) -> None:
        self.rsrc, self.csrc = regions_source, countries_source
        self.problems: list[str] = []
        self.places: PhraseIndex[Place] = PhraseIndex(latin_plural=False)
        self.phones: dict[str, str] = {}
        self.tlds: dict[str, str] = {}
        self.names: dict[str, Mapping[str, tuple[str, ...]]] = {}
        self.home: set[str] = set()

    def regions(self, data: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
        for key in sorted(set(data) - _REGION_KEYS):
            self.problems.append(f"{self.rsrc}: {key}: unknown key (expected "
                                 f"{', '.join(sorted(_REGION_KEYS))})")
        table = data.get("regions")
        if not isinstance(table, Mapping) or not table:
            self.problems.append(f"{self.rsrc}: [regions]: missing: a table of "
                                 f"country code = \"region\"")
            table = {}
        result: dict[str, str] = {}
        for code, region in table.items():
            if not _CODE.match(code):
                self.problems.append(f"{self.rsrc}: regions.{code}: not an ISO 3166 "
                                     f"alpha-2 code (two capital letters, like AE)")
            elif region not in REGIONS:
                self.problems.append(f"{self.rsrc}: regions.{code}: unknown region "
                                     f"'{region}' (known: {', '.join(REGIONS)})")
            else:
                result[code] = region
        generic = data.get("generic_cctlds", [])
        if not _strings(generic) or not all(_TLD.match(t) for t in generic):
            self.problems.append(f"{self.rsrc}: generic_cctlds: must be a list of two-letter "
                                 f"domains like \"io\"")
            generic = []
        return result, list(generic)

    def countries(self, data: Mapping[str, Any], regions: Mapping[str, str]) -> None:
        for code, entry in data.items():
            where = f"{self.csrc}: [{code}]"
            if not _CODE.match(code) or not isinstance(entry, Mapping):
                self.problems.append(f"{where}: not an ISO 3166 alpha-2 code with a table")
                continue
            if regions and code not in regions:
                self.problems.append(f"{where}: not in {self.rsrc}, so it has no region")
            for key in sorted(set(entry) - _COUNTRY_KEYS):
                self.problems.append(f"{where} {key}: unknown key (expected "
                                     f"{', '.join(sorted(_COUNTRY_KEYS))})")
            self._country(code, entry, where)

    def _country(self, code: str, entry: Mapping[str, Any], where: str) -> None:
        names = entry.get("names", {})
        if not isinstance(names, Mapping) or not all(_strings(v) for v in names.values()):
            self.problems.append(f"{where} names: must be a table of language = [names]")
            names = {}
        cities = entry.get("cities", [])
        ambiguous = entry.get("ambiguous", [])
        for key, value in (("cities", cities), ("ambiguous", ambiguous)):
            if not _strings(value):
                self.problems.append(f"{where} {key}: must be a list of names")
        cities = cities if _strings(cities) else []
        ambiguous = set(ambiguous) if _strings(ambiguous) else set()
        every = [n for v in names.values() for n in v] + cities
        for name in sorted(ambiguous - set(every)):
            self.problems.append(f"{where} ambiguous: '{name}' is not one of its names "
                                 f"or cities")
        self.names[code] = MappingProxyType({lang: tuple(v) for lang, v in names.items()})
        for kind, items in (("country name", [n for v in names.values() for n in v]),
                            ("city", cities)):
            for name in items:
                self._place(name, Place(code, kind, name in ambiguous), where)
        self._phone(code, entry.get("phone", []), where)
        self._tld(code, entry.get("tld"), where)
        if entry.get("signature_only", False) is True:
            self.home.add(code)
        elif "signature_only" in entry and entry["signature_only"] is not False:
            self.problems.append(f"{where} signature_only: must be true or false")

    def _place(self, name: str, place: Place, where: str) -> None:
        old = self.places.add(name, place)
        if old is not None and old.code != place.code:
            self.problems.append(f"{where}: '{name}' is also a name of {old.code}: "
                                 f"a name must point to one country")

    def _phone(self, code: str, prefixes: Any, where: str) -> None:
        if not _strings(prefixes) or not all(_PREFIX.match(p) for p in prefixes):
            self.problems.append(f"{where} phone: must be a list like [\"+971\"]")
            return
        for prefix in prefixes:
            other = self.phones.setdefault(prefix[1:], code)
            if other != code:
                self.problems.append(f"{where} phone: {prefix} is also {other}'s prefix")

    def _tld(self, code: str, tld: Any, where: str) -> None:
        if tld is None:
            return
        if not isinstance(tld, str) or not _TLD.match(tld):
            self.problems.append(f"{where} tld: must be a two-letter domain like \"uk\"")
        else:
            self.tlds[tld] = code


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
