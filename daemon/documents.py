"""The documents of a deal, rendered in memory: the words templates get, the proforma
invoice workbook, the contract's HTML and its PDF. Nothing here reads or writes a file
of its own; daemon/deal_documents.py numbers, keeps and drafts what this returns.

- `terms_view`: DealTerms as plain strings for templates (money the trade's way:
  1,234.50; dates ISO), shared by the letter, the covering texts and the contract.
- `proforma_xlsx`: the PI as .xlsx bytes (openpyxl): seller and buyer, the lines, the
  total both as a SUM formula under the lines (for whoever edits the sheet) and as the
  computed value in the header (for a reader whose program does not recalculate).
- `contract_html`: the export sales contract from templates/contract/<lang>/ in the
  sandbox of daemon.templating; every value is HTML-escaped before the template sees
  it, so a buyer's company name cannot inject markup.
- `html_to_pdf`: WeasyPrint, with every external resource refused (a contract is
  self-contained: its styles are inline).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.worksheet import Worksheet

from daemon import language
from daemon.deal_terms import DealTerms, Party
from daemon.quotation import count, money
from daemon.templating import render

TITLES = {"confirmation": "Transaction confirmation", "pi": "Proforma invoice",
          "contract": "Export sales contract"}
MONEY_FORMAT = "#,##0.00"
COLUMNS = ("No.", "Item", "Description", "Quantity", "Unit", "Unit price", "Amount")
WIDTHS = (6, 14, 48, 12, 8, 14, 16)


def terms_view(terms: DealTerms) -> dict[str, Any]:
    """The terms as templates see them: strings and lists, no method calls needed."""
    return {
        "lines": [{"no": n, "sku": l.sku, "name": l.name, "spec": l.spec,
                   "quantity": count(l.quantity), "unit": l.unit,
                   "unit_price": money(l.unit_price), "amount": money(l.amount)}
                  for n, l in enumerate(terms.lines, 1)],
        "total": money(terms.total), "currency": terms.currency,
        "incoterm": terms.incoterm, "port": terms.port, "basis": terms.basis,
        "buyer_term": terms.buyer_term, "payment": terms.payment,
        "packaging": terms.packaging, "lead_time_days": terms.lead_time_days,
        "shipment_date": terms.shipment_date.isoformat(),
        "valid_until": terms.valid_until.isoformat(),
        "buyer": _party_view(terms.buyer), "seller": _party_view(terms.seller),
        "bank": list(terms.bank), "notes": list(terms.notes),
    }


def _party_view(party: Party) -> dict[str, str]:
    return {"company": party.company, "contact": party.contact, "address": party.address,
            "country": party.country, "email": party.email, "telephone": party.telephone,
            "fax": party.fax, "website": party.website,
            "name": party.company or party.contact or party.email}


def document_context(terms: DealTerms, *, kind: str, number: str, issued: date,
                     lang: str, sender: Mapping[str, str],
                     thread_subject: str = "") -> dict[str, Any]:
    """What the letter, the covering texts and the contract are rendered with."""
    return {"kind": kind, "title": TITLES.get(kind, kind), "number": number,
            "date": issued.isoformat(), "lang": lang, "terms": terms_view(terms),
            "sender": dict(sender), "thread_subject": thread_subject}


def template_names(folder: str, name: str, lang_tag: str) -> list[str]:
    """<folder>/<lang>/<name>, then English (daemon.language)."""
    return [f"{folder}/{code}/{name}" for code in language.candidates(lang_tag)]


def reviewer_note(context: Mapping[str, Any], *, draft_id: str, about: str, to: str,
                  template: str, file_name: str = "", sha256: str = "",
                  remarks: Sequence[str] = ()) -> str:
    """The .txt beside the draft: what was drafted, for the reviewer only."""
    terms = context["terms"]
    lines = [f"inquiryd draft {draft_id}: for the reviewer only, never sent to the buyer",
             "=" * 72, f"{context['title']} {context['number']} for {about}",
             f"To:           {to}", f"Template:     {template}",
             f"Total:        {terms['currency']} {terms['total']} {terms['basis']}",
             *(f"  - {l['sku']}: {l['quantity']} {l['unit']} x {l['unit_price']} = "
               f"{l['amount']}" for l in terms["lines"])]
    if file_name:
        lines.append(f"File:         {file_name} (sha256 {sha256[:16]}...)")
    lines += [*remarks, *(f"NOTE: {n}" for n in terms["notes"]), "",
              "Change any term in the draft before approving it if the buyer agreed "
              "otherwise: the buyer gets the draft as you leave it."]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the proforma invoice


def proforma_xlsx(terms: DealTerms, *, number: str, issued: date) -> bytes:
    """The PI workbook as bytes; its total cell under the lines is a SUM formula."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has its first sheet
    sheet.title = "Proforma invoice"
    for i, width in enumerate(WIDTHS):
        sheet.column_dimensions[chr(ord("A") + i)].width = width
    row = _pi_header(sheet, terms, number, issued)
    row = _pi_lines(sheet, terms, row + 1)
    _pi_terms(sheet, terms, row + 1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pi_header(sheet: Worksheet, terms: DealTerms, number: str, issued: date) -> int:
    sheet["A1"] = "PROFORMA INVOICE"
    sheet["A1"].font = Font(bold=True, size=16)
    rows: list[tuple[str, Any]] = [
        ("PI number", number), ("Date", issued.isoformat()),
        ("Valid until", terms.valid_until.isoformat()),
        (f"Total amount ({terms.currency})", terms.total), ("Terms", terms.basis)]
    for n, (label, value) in enumerate(rows, 3):
        sheet.cell(n, 1, label).font = Font(bold=True)
        cell = sheet.cell(n, 3, value)
        if label.startswith("Total"):
            cell.number_format = MONEY_FORMAT
            cell.alignment = Alignment(horizontal="left")
    row = 3 + len(rows) + 1
    for col, (title, party) in ((1, ("Seller", terms.seller)), (3, ("Buyer", terms.buyer))):
        sheet.cell(row, col, title).font = Font(bold=True)
        for n, text in enumerate(_party_lines(party), 1):
            sheet.cell(row + n, col, text)
    return row + 7


def _party_lines(party: Party) -> list[str]:
    lines = [party.company, party.contact, party.address, party.country,
             f"Tel: {party.telephone}" if party.telephone else "",
             f"Email: {party.email}" if party.email else ""]
    return [line for line in lines if line][:6]


def _pi_lines(sheet: Worksheet, terms: DealTerms, row: int) -> int:
    thin = Side(style="thin")
    for col, title in enumerate(COLUMNS, 1):
        cell = sheet.cell(row, col, title if col < 6 else f"{title} ({terms.currency})")
        cell.font = Font(bold=True)
        cell.border = Border(bottom=thin)
    first = row + 1
    for n, line in enumerate(terms.lines):
        r = first + n
        values = (n + 1, line.sku, f"{line.name}; {line.spec}" if line.spec else line.name,
                  line.quantity, line.unit, line.unit_price, line.amount)
        for col, value in enumerate(values, 1):
            cell = sheet.cell(r, col, value)
            if col in (6, 7):
                cell.number_format = MONEY_FORMAT
            if col == 3:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    last = first + len(terms.lines) - 1
    total_row = last + 1
    sheet.cell(total_row, 6, f"Total {terms.basis}").font = Font(bold=True)
    total = sheet.cell(total_row, 7, f"=SUM(G{first}:G{last})")
    total.number_format = MONEY_FORMAT
    total.font = Font(bold=True)
    total.border = Border(top=thin)
    return total_row + 1


def _pi_terms(sheet: Worksheet, terms: DealTerms, row: int) -> None:
    items: list[tuple[str, str]] = [
        ("Price terms", terms.basis + (f" (asked: {terms.buyer_term}; freight added "
                                       f"separately)" if terms.buyer_term else "")),
        ("Payment", terms.payment), ("Packaging", terms.packaging),
        ("Lead time", f"{terms.lead_time_days} days after deposit"),
        ("Latest shipment", terms.shipment_date.isoformat()),
        ("Valid until", terms.valid_until.isoformat()),
        *(("Bank" if n == 0 else "", line) for n, line in enumerate(terms.bank)),
        *(("Note", note) for note in terms.notes)]
    for n, (label, text) in enumerate(items, row + 1):
        sheet.cell(n, 1, label).font = Font(bold=True)
        sheet.cell(n, 3, text)
    end = row + len(items) + 3
    sheet.cell(end, 1, f"For and on behalf of {terms.seller.company}")
    sheet.cell(end + 2, 1, "Authorised signature")


# ------------------------------------------------------------------ the contract


def contract_html(env: SandboxedEnvironment, context: Mapping[str, Any], lang_tag: str) -> str:
    """The contract's HTML from templates/contract/<lang>/contract.html.j2 (else English)."""
    names = template_names("contract", "contract.html.j2", lang_tag)
    return render(env, names, _escaped(context)).text


def _escaped(value: Any) -> Any:
    """Every string as HTML-safe Markup: the template then needs no `|e` to be safe."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def html_to_pdf(html: str) -> bytes:
    """The PDF of a self-contained HTML page (WeasyPrint; no file or URL is fetched)."""
    from weasyprint import HTML  # loads Pango: only when a contract is made

    # Its step-by-step INFO lines are not events of ours; its warnings still show.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    return HTML(string=html, base_url=None, url_fetcher=_refuse).write_pdf() or b""


def _refuse(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"a contract loads nothing from outside: {url} refused")
