"""The files that go with a reply (I/O): company profile, regional price sheet, e-samples.

Files live under templates/attachments/, where salespeople drop them:
  company-profile.pdf               the company profile, attached to first contacts
  price-sheets/<region>.xlsx|.pdf   a price sheet the company made for one market region
                                    (`default.xlsx|.pdf` for buyers of no known region)
  e-samples/<SKU>.pdf               each product's e-sample, as catalog.csv's e_sample names

When the company provides no price sheet for a region, one is generated from the
catalogue's column for that region with openpyxl and cached under
<state>/cache/price-sheets/, keyed by the bytes of catalog.csv (and the company name):
a changed catalogue gives a new sheet, an unchanged one the same file, so every buyer of
one catalogue version gets byte-identical sheets. The generated sheet never shows the
floor price, and no tier goes down to it (daemon.quotation.tier_prices).

Nothing here raises for a missing or oversized file at drafting time: `load` returns
what it could read plus one problem line per file it could not (the reviewer's context
shows them, via daemon.draft.note_problems), and `check_attachments` lists the same
problems for `inquiryd check`. Each loaded file carries the sha256 of its bytes so the
version each buyer received can be recorded.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.catalog import REGIONS, Catalog, Product
from daemon.draft import AttachmentSpec, safe_filename
from daemon.files import write_atomically
from daemon.quotation import TIERS, tier_prices

PROFILE = "company-profile.pdf"
PRICE_SHEETS = "price-sheets"
E_SAMPLES = "e-samples"
SHEET_SUFFIXES = (".xlsx", ".pdf")            # a provided sheet: the first found wins
CACHE = Path("cache") / "price-sheets"
SHEET_VERSION = "1"                           # bump when the generated layout changes
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
    ".zip": "application/zip",
}
_MAGIC = {".pdf": b"%PDF-", ".xlsx": b"PK\x03\x04", ".zip": b"PK\x03\x04",
          ".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff"}


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """Size caps: a mail of many megabytes is refused by buyers' servers or lands in spam."""

    max_file_bytes: int = 5 * 1024 * 1024
    max_total_bytes: int = 12 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadedAttachment:
    """One attachment ready to go: what the buyer sees, its bytes and their version."""

    spec: AttachmentSpec
    filename: str
    content_type: str
    data: bytes
    sha256: str
    source: Path

    def as_part(self) -> tuple[str, str, bytes]:
        """(filename, content type, bytes), as daemon.draft.build_message takes them."""
        return self.filename, self.content_type, self.data


@dataclass(frozen=True, slots=True)
class Sources:
    """Where attachment files come from, for one installation."""

    templates_root: Path
    state_dir: Path
    catalog: Catalog
    catalog_file: Path
    company_name: str

    @property
    def folder(self) -> Path:
        return self.templates_root / "attachments"


# ------------------------------------------------------------------ loading


class AttachmentError(Exception):
    """A file that cannot be attached; the message says which and why."""


def load(specs: Sequence[AttachmentSpec], sources: Sources,
         limits: AttachmentLimits = AttachmentLimits()
         ) -> tuple[list[LoadedAttachment], list[str]]:
    """Read each attachment; (what was read, one problem line per file that was not)."""
    loaded: list[LoadedAttachment] = []
    problems: list[str] = []
    total = 0
    for spec in specs:
        try:
            path = source_for(spec, sources)
            data = _read_capped(path, limits.max_file_bytes)
        except AttachmentError as exc:
            problems.append(f"{spec.kind} {spec.name}: {exc}")
            continue
        except OSError as exc:           # the sheet cache could not be written
            problems.append(f"{spec.kind} {spec.name}: {exc}")
            continue
        if total + len(data) > limits.max_total_bytes:
            problems.append(f"{spec.kind} {spec.name}: left out, the attachments would pass "
                            f"{limits.max_total_bytes // 1024 // 1024} MiB in all")
            continue
        total += len(data)
        loaded.append(LoadedAttachment(
            spec, safe_filename(spec.name + path.suffix.lower()),
            CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"), data,
            hashlib.sha256(data).hexdigest(), path))
    return loaded, problems


def source_for(spec: AttachmentSpec, sources: Sources) -> Path:
    """The file behind a spec; a generated price sheet is made (or reused) here."""
    if spec.kind == "profile":
        return _existing(sources.folder / PROFILE)
    if spec.kind == "price_sheet":
        return price_sheet_path(spec.region, sources)
    product = sources.catalog.get(spec.sku)
    if product is None or not product.e_sample:
        raise AttachmentError(f"no e_sample for {spec.sku} in catalog.csv")
    return _existing(_inside(sources.folder, product.e_sample))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise AttachmentError(f"{path}: missing")
    return path


def _inside(folder: Path, relative: str) -> Path:
    """folder/relative, refusing anything that resolves outside the folder."""
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise AttachmentError(f"{relative}: outside {folder}")
    return path


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > cap:
            raise AttachmentError(f"{path}: {size:,} bytes, above the {cap:,}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"{path}: cannot be read: {exc.strerror}") from None


# ------------------------------------------------------------------ price sheets


def provided_price_sheet(templates_root: Path, region: str) -> Path | None:
    """The company's own sheet for `region` (.xlsx before .pdf), if there is one."""
    folder = templates_root / "attachments" / PRICE_SHEETS
    for suffix in SHEET_SUFFIXES:
        path = folder / f"{region or 'default'}{suffix}"
        if path.is_file():
            return path
    return None


def price_sheet_path(region: str, sources: Sources) -> Path:
    """The sheet for `region`: the company's own, else the generated one (made if stale)."""
    region = region if region in REGIONS else "default"
    provided = provided_price_sheet(sources.templates_root, region)
    if provided is not None:
        return provided
    key = _sheet_key(sources, region)
    folder = sources.state_dir / CACHE
    path = folder / f"{region}-{key[:16]}.xlsx"
    if path.is_file():
        return path
    data = generate_price_sheet(sources.catalog, region, sources.company_name)
    write_atomically(path, data)
    for old in folder.glob(f"{region}-*.xlsx"):        # earlier catalogue versions
        if old != path:
            old.unlink(missing_ok=True)
    return path


def _sheet_key(sources: Sources, region: str) -> str:
    try:
        catalog_bytes = sources.catalog_file.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"{sources.catalog_file}: cannot be read: {exc.strerror}") from None
    digest = hashlib.sha256(catalog_bytes)
    digest.update(f"\0{region}\0{sources.company_name}\0{SHEET_VERSION}".encode())
    return digest.hexdigest()


def generate_price_sheet(catalog: Catalog, region: str, company_name: str) -> bytes:
    """The region's price list as .xlsx bytes: every product, regional prices and tiers.

    No date inside, so a cached sheet does not go stale while the catalogue is unchanged;
    the file name the buyer sees carries the month.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Price list"
    ws.append([company_name])
    ws.append(["Price list: USD per unit, FOB Ningbo. Payment 30% T/T deposit, 70% before "
               "shipment. Prices valid 30 days from the date of our email."])
    ws.append([])
    tiers = [f"USD from {m}x MOQ" for m, _ in TIERS[1:]]
    ws.append(["SKU", "Product", "Specification", "MOQ", "Unit", "USD from MOQ", *tiers,
               "Lead time (days)", "Certifications"])
    for product in catalog:
        ws.append(_sheet_row(product, region))
    ws["A1"].font = Font(bold=True, size=14)
    for cell in ws[4]:
        cell.font = Font(bold=True)
    widths = {"A": 12, "B": 34, "C": 60, "D": 8, "E": 7, "F": 13, "G": 15, "H": 15, "I": 15,
              "J": 16, "K": 40}
    for column, width in widths.items():
        ws.column_dimensions[column].width = width
    for row in ws.iter_rows(min_row=5):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")
        for cell in row[5:9]:
            cell.number_format = "0.00"
    ws.freeze_panes = "A5"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_row(product: Product, region: str) -> list[Any]:
    tiers = tier_prices(product.price_for(region), product.moq, product.floor_price)
    prices: list[Any] = [float(price) for _, price in tiers]
    prices += [None] * (len(TIERS) - len(prices))     # tiers that would pass the floor
    return [product.sku, product.name, product.spec, product.moq, product.unit, *prices,
            product.lead_time_days, ", ".join(product.certifications)]


# ------------------------------------------------------------------ `inquiryd check`


def check_attachments(root: Path, catalog: Catalog,
                      limits: AttachmentLimits = AttachmentLimits()) -> list[str]:
    """Every attachment problem under templates/attachments/, one line each.

    `root` is the templates folder. Missing files are problems here, never at send time.
    """
    folder = root / "attachments"
    problems = _check_file(folder / PROFILE, limits, "the company profile, attached to "
                                                     "first contacts and C grades")
    sheets = folder / PRICE_SHEETS
    if sheets.is_dir():
        for path in sorted(sheets.iterdir()):
            problems += _check_sheet(path, limits)
    for product in catalog:
        if product.e_sample:
            try:
                path = _inside(folder, product.e_sample)
            except AttachmentError as exc:
                problems.append(f"{folder}: catalog.csv {product.sku} e_sample {exc}")
                continue
            problems += _check_file(path, limits, f"the e-sample of {product.sku} "
                                                  f"(catalog.csv e_sample)")
    return problems


def _check_sheet(path: Path, limits: AttachmentLimits) -> list[str]:
    if path.name.startswith(".") or not path.is_file():
        return []
    if path.suffix.lower() not in SHEET_SUFFIXES:
        return [f"{path}: not used: a price sheet is <region>.xlsx or <region>.pdf"]
    if path.stem not in (*REGIONS, "default"):
        return [f"{path}: '{path.stem}' is not a region; use one of "
                f"{', '.join(REGIONS)} or default"]
    return _check_file(path, limits, "a price sheet")


def _check_file(path: Path, limits: AttachmentLimits, what: str) -> list[str]:
    if not path.is_file():
        return [f"{path}: missing ({what})"]
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        return [f"{path}: cannot be read: {exc.strerror}"]
    if size > limits.max_file_bytes:
        return [f"{path}: {size:,} bytes, above the {limits.max_file_bytes:,}-byte limit"]
    magic = _MAGIC.get(path.suffix.lower())
    if magic and not head.startswith(magic):
        return [f"{path}: not a real {path.suffix.lower()} file (it starts with {head[:5]!r})"]
    return []
