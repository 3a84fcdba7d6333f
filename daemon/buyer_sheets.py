"""Buyer sheets (pure): the header row, what each column means, one row -> BuyerRow.

The desk's spreadsheets come in many shapes: a merged title row or two, headers in
English or Chinese, several addresses in one cell. This module finds the header row,
maps columns to buyer fields, normalises each row (or rejects it, saying why), merges
rows about one company, and decides, with reasons, which stored buyer a row belongs to
and what it may change. It reads no files and touches no database (buyer_import.py does).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from daemon.match_buyer import company_key

# Buyer fields a sheet may fill, in export order; "emails" is the addresses.
FIELDS = ("company", "contact_name", "emails", "country", "region", "city", "phone", "grade",
          "source", "buyer_type", "owner", "status", "notes")
# Fields compared and updated on a stored buyer (region follows country).
UPDATABLE = ("company", "contact_name", "country", "region", "city", "phone", "grade",
             "source", "buyer_type", "owner", "status", "notes")
# Header words (folded: lower case, no spaces or punctuation) -> field.
ALIASES: Mapping[str, str] = {
    **dict.fromkeys(["company", "companyname", "customer", "customername", "buyer", "client",
                     "公司", "公司名称", "客户名称", "客户", "客户公司", "单位名称"], "company"),
    **dict.fromkeys(["contact", "contactname", "contactperson", "name", "联系人", "姓名",
                     "联系人姓名"], "contact_name"),
    **dict.fromkeys(["email", "emails", "e-mail", "mail", "emailaddress", "邮箱", "电子邮件",
                     "电子邮箱", "邮件", "邮箱地址"], "emails"),
    **dict.fromkeys(["country", "countryregion", "nation", "国家", "国家地区", "国别"], "country"),
    **dict.fromkeys(["region", "market", "area", "地区", "区域", "市场"], "region"),
    **dict.fromkeys(["city", "城市"], "city"),
    **dict.fromkeys(["phone", "tel", "telephone", "mobile", "whatsapp", "电话", "手机",
                     "联系电话", "手机号"], "phone"),
    **dict.fromkeys(["grade", "level", "class", "等级", "客户等级", "级别"], "grade"),
    **dict.fromkeys(["source", "来源", "客户来源"], "source"),
    **dict.fromkeys(["type", "buyertype", "customertype", "类型", "客户类型"], "buyer_type"),
    **dict.fromkeys(["owner", "salesperson", "sales", "负责人", "业务员"], "owner"),
    **dict.fromkeys(["status", "状态"], "status"),
    **dict.fromkeys(["notes", "note", "remarks", "remark", "comments", "备注"], "notes"),
}
HEADER_ROWS = 10  # the header row is looked for among the first rows
_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_EMAIL_SPLIT = re.compile(r"[;,/\s；，、]+")
_GRADE = re.compile(r"^([ABCD])(?:\s*级|\s*类|\s*grade)?$", re.IGNORECASE)


class SheetError(ValueError):
    """The sheet cannot be read as a buyer list (no header row, a bad --map)."""


@dataclass(frozen=True, slots=True)
class Header:
    row: int                          # 0-based index of the header row
    columns: Mapping[int, str]        # column index -> field
    ignored: tuple[str, ...] = ()     # header cells that map to no field


@dataclass(frozen=True, slots=True)
class BuyerRow:
    """One buyer as a sheet gives it; `lines` are the sheet lines it came from."""

    lines: tuple[int, ...]
    company: str = ""
    contact_name: str = ""
    emails: tuple[str, ...] = ()
    country: str = ""
    region: str = ""
    city: str = ""
    phone: str = ""
    grade: str = ""
    source: str = ""
    buyer_type: str = ""
    owner: str = ""
    status: str = ""
    notes: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def company_key(self) -> str:
        return company_key(self.company) if self.company else ""

    def domains(self, free_mail: frozenset[str]) -> tuple[str, ...]:
        """Company domains: never a free-mail provider's, which groups nobody."""
        found = (e.rpartition("@")[2] for e in self.emails)
        return tuple(dict.fromkeys(d for d in found if d not in free_mail))


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str
    cells: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    buyer_id: int | None              # None: create a buyer (unless rejected)
    how: str                          # address, domain, company, new, ambiguous
    reason: str


@dataclass(frozen=True, slots=True)
class Merged:
    line: int                         # the row folded into an earlier one
    into: int
    reason: str


@dataclass(slots=True)
class _Group:
    row: BuyerRow
    merged: list[Merged] = field(default_factory=list)


def fold(text: str) -> str:
    """A header or name folded for comparison: width, case, spaces and punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_:：*()（）\[\]【】.#]+", "", text)


def parse_map(spec: str) -> dict[str, str]:
    """`--map 'Header=field,...'` -> {folded header: field}; unknown fields are an error."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        header, sep, name = part.rpartition("=")
        name = name.strip()
        name = {"contact": "contact_name", "email": "emails", "type": "buyer_type"}.get(name, name)
        if not sep or not header.strip() or name not in FIELDS:
            raise SheetError(f"--map: '{part}' is not Header=field "
                             f"(fields: {', '.join(FIELDS)})")
        mapping[fold(header)] = name
    return mapping


def find_header(rows: Sequence[Sequence[str]], extra: Mapping[str, str] | None = None) -> Header:
    """The first row among the first HEADER_ROWS that names the most buyer fields."""
    aliases = {**ALIASES, **(extra or {})}
    best: Header | None = None
    for i, row in enumerate(rows[:HEADER_ROWS]):
        columns: dict[int, str] = {}
        ignored = []
        for j, cell in enumerate(row):
            name = aliases.get(fold(cell)) if cell.strip() else None
            if name and name not in columns.values() or name == "phone":
                columns[j] = name  # type: ignore[assignment]
            elif cell.strip():
                ignored.append(cell.strip())
        useful = {"company", "emails"} & set(columns.values())
        if useful and len(columns) >= 2 and (best is None or len(columns) > len(best.columns)):
            best = Header(i, columns, tuple(ignored))
    if best is None:
        raise SheetError(f"no header row with a company or email column in the first "
                         f"{HEADER_ROWS} rows (use --map 'Header=field,...')")
    return best


def split_emails(cell: str) -> tuple[list[str], list[str]]:
    """(good addresses lower-cased, bad pieces) from a cell holding one or several."""
    good, bad = [], []
    for piece in _EMAIL_SPLIT.split(unicodedata.normalize("NFKC", cell)):
        piece = piece.strip().strip("<>\"'").removeprefix("mailto:").lower()
        if not piece:
            continue
        (good if _EMAIL.match(piece) else bad).append(piece)
    return list(dict.fromkeys(good)), bad


def normalise(line: int, cells: Sequence[str], header: Header,
              country_of: Callable[[str], str], region_of: Callable[[str], str],
              default_source: str = "") -> BuyerRow | Rejected | None:
    """One sheet row -> a BuyerRow, a Rejected with the reason, or None for a blank row."""
    values: dict[str, str] = {}
    for j, name in header.columns.items():
        value = cells[j].strip() if j < len(cells) else ""
        if value:
            values[name] = f"{values[name]} / {value}" if name in values else value
    if not values:
        return None
    raw = tuple(cells)
    emails, bad = split_emails(values.pop("emails", ""))
    if bad:
        return Rejected(line, f"bad email address: {', '.join(bad)}", raw)
    if not emails and not values.get("company"):
        return Rejected(line, "no email address and no company name", raw)
    warnings = []
    country = ""
    if values.get("country"):
        country = country_of(values["country"])
        if not country:
            warnings.append(f"line {line}: country '{values['country']}' not recognised: left empty")
    region = region_of(country) if country else values.get("region", "")
    grade = ""
    if values.get("grade"):
        m = _GRADE.match(values["grade"].strip())
        grade = m.group(1).upper() if m else ""
        if not m:
            warnings.append(f"line {line}: grade '{values['grade']}' is not A-D: left empty")
    return BuyerRow(
        lines=(line,), company=values.get("company", ""),
        contact_name=values.get("contact_name", ""), emails=tuple(emails), country=country,
        region=region, city=values.get("city", ""), phone=values.get("phone", ""),
        grade=grade, source=values.get("source", "") or default_source,
        buyer_type=values.get("buyer_type", ""), owner=values.get("owner", ""),
        status=values.get("status", "").lower(), notes=values.get("notes", ""),
        warnings=tuple(warnings))


def country_index(names: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, str]:
    """{folded name or code: ISO code} from the geo rules' names in every language."""
    index: dict[str, str] = {}
    for code, by_language in names.items():
        index[fold(code)] = code
        for listed in by_language.values():
            for name in listed:
                index.setdefault(fold(name), code)
    return index


def merge_rows(rows: Sequence[BuyerRow], free_mail: frozenset[str]
               ) -> tuple[list[BuyerRow], list[Merged]]:
    """Rows about one buyer (same address, company domain or company name) become one.

    The earlier row's values win; later rows fill its blanks and add addresses.
    """
    groups: list[_Group] = []
    for row in rows:
        hits = [(g, why) for g in groups if (why := _same(g.row, row, free_mail))]
        if not hits:
            groups.append(_Group(row))
            continue
        first, why = hits[0]
        first.merged.append(Merged(row.lines[0], first.row.lines[0], why))
        first.row = _combine(first.row, row)
        for other, other_why in hits[1:]:  # this row joins two groups: they are one buyer
            first.merged.append(Merged(other.row.lines[0], first.row.lines[0], other_why))
            first.merged.extend(other.merged)
            first.row = _combine(first.row, other.row)
            groups.remove(other)
    merged = [m for g in groups for m in g.merged]
    return [g.row for g in groups], sorted(merged, key=lambda m: m.line)


def _same(a: BuyerRow, b: BuyerRow, free_mail: frozenset[str]) -> str:
    shared = set(a.emails) & set(b.emails)
    if shared:
        return f"same address {min(shared)}"
    domains = set(a.domains(free_mail)) & set(b.domains(free_mail))
    if domains:
        return f"same company domain {min(domains)}"
    if a.company_key and a.company_key == b.company_key:
        return f"same company name '{b.company}'"
    return ""


def _combine(a: BuyerRow, b: BuyerRow) -> BuyerRow:
    filled = {name: getattr(b, name) for name in UPDATABLE
              if not getattr(a, name) and getattr(b, name)}
    if b.notes and a.notes and b.notes not in a.notes:
        filled["notes"] = f"{a.notes}\n{b.notes}"
    return replace(a, **filled, lines=a.lines + b.lines,
                   emails=tuple(dict.fromkeys(a.emails + b.emails)),
                   warnings=a.warnings + b.warnings)


def choose(row: BuyerRow, by_address: Sequence[int], by_domain: Sequence[int],
           by_company: Sequence[int]) -> Match:
    """Which stored buyer this row is: by address, then company domain, then company name."""
    if by_address:
        return Match(by_address[0], "address", f"known address of buyer #{by_address[0]}")
    if by_domain:
        return Match(by_domain[0], "domain", f"same company domain as buyer #{by_domain[0]}")
    if len(by_company) == 1:
        return Match(by_company[0], "company", f"same company name as buyer #{by_company[0]}")
    if len(by_company) > 1:
        ids = ", ".join(f"#{i}" for i in by_company)
        return Match(None, "ambiguous", f"{len(by_company)} buyers ({ids}) share the company "
                                        f"name '{row.company}': add an email address to say which")
    return Match(None, "new", "new buyer")


def changes(current: Mapping[str, str], row: BuyerRow, overwrite: bool) -> dict[str, str]:
    """The fields to set on a stored buyer: its blanks, or any difference with --overwrite.

    A field a person set is never replaced without --overwrite; an empty cell never
    blanks a stored value. Status "active" is the default, so it counts as unset.
    """
    result = {}
    for name in UPDATABLE:
        new = getattr(row, name)
        old = current.get(name) or ""
        if new == old:
            continue
        if name == "status" and old == "active" and not overwrite:
            old = ""
        if new and new != old and (overwrite or not old):
            result[name] = new
    if "country" not in result and current.get("country"):
        result.pop("region", None)  # region follows its country
    if "country" in result and row.region != current.get("region"):
        result["region"] = row.region
    return result
