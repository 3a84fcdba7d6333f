"""Attachments: region sheets generated and cached, own sheets preferred, e-samples, checks."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from daemon.attachments import (AttachmentLimits, Sources, check_attachments,
                                generate_price_sheet, load, price_sheet_path)
from daemon.catalog import Catalog
from daemon.draft import AttachmentSpec
from tests.sample_pdf import minimal_pdf

ROOT = Path(__file__).resolve().parents[1]
COMPANY = "Yiwu Brightstar Crafts Co., Ltd."
PROFILE = AttachmentSpec("profile", "Brightstar-company-profile")


def sheet(region: str) -> AttachmentSpec:
    return AttachmentSpec("price_sheet", "Brightstar-price-list-2026-11", region=region)


def e_sample(sku: str) -> AttachmentSpec:
    return AttachmentSpec("e_sample", f"{sku}-e-sample", sku=sku)


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    """A copy of the shipped templates/attachments and catalog.csv, and an empty state."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "attachments", templates / "attachments")
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "catalog.csv", rules / "catalog.csv")
    catalog = Catalog.from_csv_text((rules / "catalog.csv").read_text("utf-8"), "catalog.csv")
    return Sources(templates, tmp_path / "state", catalog, rules / "catalog.csv", COMPANY)


def cells(path: Path) -> list[tuple[object, ...]]:
    return list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))


def row_of(path: Path, sku: str) -> tuple[object, ...]:
    return next(r for r in cells(path) if r and r[0] == sku)


# ------------------------------------------------------------------ price sheets


def test_region_sheet_is_generated_and_cached(sources: Sources) -> None:
    loaded, problems = load([sheet("middle_east")], sources)
    assert problems == []
    first = loaded[0]
    assert first.filename == "Brightstar-price-list-2026-11.xlsx"
    assert first.content_type.endswith("spreadsheetml.sheet")
    assert first.source.parent == sources.state_dir / "cache" / "price-sheets"
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    stamp = first.source.stat().st_mtime_ns
    again, _ = load([sheet("middle_east")], sources)
    assert again[0].source == first.source and again[0].sha256 == first.sha256
    assert first.source.stat().st_mtime_ns == stamp          # reused, not regenerated
    assert [p.name for p in first.source.parent.iterdir()] == [first.source.name]


def test_sheet_prices_follow_the_region_column(sources: Sources) -> None:
    me = price_sheet_path("middle_east", sources)
    na = price_sheet_path("north_america", sources)
    assert row_of(me, "BS-NK-101")[5] == pytest.approx(0.86)
    assert row_of(na, "BS-NK-101")[5] == pytest.approx(1.15)
    default = price_sheet_path("", sources)
    assert default.name.startswith("default-") and row_of(default, "BS-NK-101")[5] == 0.95
    assert price_sheet_path("atlantis", sources).name.startswith("default-")


def test_generated_sheet_never_shows_the_floor(sources: Sources) -> None:
    path = price_sheet_path("middle_east", sources)
    header = next(r for r in cells(path) if r and r[0] == "SKU")
    assert not any("floor" in str(h).lower() for h in header)
    for product in sources.catalog:
        prices = [v for v in row_of(path, product.sku)[5:9] if v is not None]
        assert prices and all(Decimal(str(v)) > product.floor_price for v in prices)


def test_sheet_is_regenerated_when_the_catalogue_changes(sources: Sources) -> None:
    before = price_sheet_path("middle_east", sources)
    text = sources.catalog_file.read_text("utf-8").replace(",0.95,0.86,", ",0.95,0.84,", 1)
    sources.catalog_file.write_text(text, encoding="utf-8")
    catalog = Catalog.from_csv_text(text, "catalog.csv")
    after = price_sheet_path("middle_east", replace(sources, catalog=catalog))
    assert after != before and not before.exists()
    assert row_of(after, "BS-NK-101")[5] == pytest.approx(0.84)
    assert price_sheet_path("middle_east", replace(sources, company_name="Other Co")) != after


def test_the_companys_own_sheet_is_preferred(sources: Sources) -> None:
    folder = sources.folder / "price-sheets"
    folder.mkdir()
    own = minimal_pdf("Price list Middle East", ["BS-NK-101 0.86"])
    (folder / "middle_east.pdf").write_bytes(own)
    loaded, problems = load([sheet("middle_east"), sheet("europe")], sources)
    assert problems == []
    assert loaded[0].data == own and loaded[0].filename.endswith(".pdf")
    assert loaded[0].content_type == "application/pdf"
    assert loaded[1].source.parent == sources.state_dir / "cache" / "price-sheets"
    (folder / "default.xlsx").write_bytes(generate_price_sheet(sources.catalog, "", "Own"))
    assert price_sheet_path("", sources) == folder / "default.xlsx"


def test_no_temporary_files_are_left(sources: Sources) -> None:
    for region in ("middle_east", "europe", ""):
        price_sheet_path(region, sources)
    leftovers = [p for p in (sources.state_dir / "cache" / "price-sheets").iterdir()
                 if p.name.startswith(".tmp")]
    assert leftovers == []


# ------------------------------------------------------------------ profile and e-samples


def test_profile_and_one_e_sample_per_product(sources: Sources) -> None:
    specs = [PROFILE, e_sample("BS-NK-101"), e_sample("BS-ER-310")]
    loaded, problems = load(specs, sources)
    assert problems == []
    assert [a.filename for a in loaded] == ["Brightstar-company-profile.pdf",
                                            "BS-NK-101-e-sample.pdf", "BS-ER-310-e-sample.pdf"]
    assert loaded[1].data == (sources.folder / "e-samples" / "BS-NK-101.pdf").read_bytes()
    assert all(a.data.startswith(b"%PDF-") for a in loaded)
    assert [a.as_part()[0] for a in loaded] == [a.filename for a in loaded]


def test_a_missing_file_is_a_problem_not_a_crash(sources: Sources) -> None:
    (sources.folder / "e-samples" / "BS-ER-310.pdf").unlink()
    (sources.folder / "company-profile.pdf").unlink()
    specs = [PROFILE, e_sample("BS-NK-101"), e_sample("BS-ER-310"), e_sample("XX-1")]
    loaded, problems = load(specs, sources)
    assert [a.spec.sku for a in loaded] == ["BS-NK-101"]
    assert len(problems) == 3
    assert problems[0].startswith("profile Brightstar-company-profile: ")
    assert "company-profile.pdf: missing" in problems[0]
    assert "BS-ER-310.pdf: missing" in problems[1]
    assert "no e_sample for XX-1" in problems[2]


def test_sizes_are_capped(sources: Sources) -> None:
    limits = AttachmentLimits(max_file_bytes=1500, max_total_bytes=3000)
    specs = [PROFILE, e_sample("BS-NK-101"), e_sample("BS-AK-840"), e_sample("BS-RG-620"),
             e_sample("BS-SC-455")]
    loaded, problems = load(specs, sources, limits)
    assert all(len(a.data) <= 1500 for a in loaded)
    assert sum(len(a.data) for a in loaded) <= 3000
    assert any("above the 1,500-byte limit" in p for p in problems)
    assert any("would pass" in p for p in problems)


def test_an_e_sample_outside_the_folder_is_refused(sources: Sources) -> None:
    product = replace(sources.catalog.get("BS-NK-101"), e_sample="../../rules/catalog.csv")
    catalog = Catalog.of([product])
    loaded, problems = load([e_sample("BS-NK-101")], replace(sources, catalog=catalog))
    assert loaded == [] and "outside" in problems[0]


# ------------------------------------------------------------------ `inquiryd check`


def test_the_shipped_attachments_pass_the_check() -> None:
    catalog = Catalog.from_csv_text((ROOT / "rules" / "catalog.csv").read_text("utf-8"), "c")
    assert check_attachments(ROOT / "templates", catalog) == []


def test_check_names_every_problem(sources: Sources) -> None:
    folder = sources.folder
    (folder / "company-profile.pdf").unlink()
    (folder / "e-samples" / "BS-AK-840.pdf").write_text("not a pdf", encoding="utf-8")
    (folder / "e-samples" / "BS-BH-910.pdf").write_bytes(b"%PDF-" + b"0" * 2000)
    (folder / "price-sheets").mkdir()
    (folder / "price-sheets" / "mars.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "price-sheets" / "europe.doc").write_bytes(b"x")
    problems = check_attachments(sources.templates_root, sources.catalog,
                                 AttachmentLimits(max_file_bytes=1800))
    text = "\n".join(problems)
    assert f"{folder / 'company-profile.pdf'}: missing (the company profile" in text
    assert "BS-AK-840.pdf: not a real .pdf file" in text
    assert "BS-BH-910.pdf: 2,005 bytes, above the 1,800-byte limit" in text
    assert "'mars' is not a region" in text
    assert "europe.doc: not used" in text
    assert len(problems) == 5


# ------------------------------------------------------------------ the PDFs themselves


def pdf_is_well_formed(data: bytes) -> bool:
    """Header, trailer, and every xref offset pointing at its object."""
    if not (data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")):
        return False
    start = int(re.search(rb"startxref\n(\d+)\n", data).group(1))  # type: ignore[union-attr]
    table = data[start:].split(b"trailer")[0].split(b"\n")
    count = int(table[1].split()[1])
    offsets = [int(line[:10]) for line in table[3:3 + count - 1]]
    return all(data[o:].startswith(b"%d 0 obj" % (n + 1)) for n, o in enumerate(offsets))


def test_shipped_pdfs_are_real_pdfs() -> None:
    files = sorted((ROOT / "templates" / "attachments").rglob("*.pdf"))
    assert len(files) == 11
    for path in files:
        assert pdf_is_well_formed(path.read_bytes()), path


def test_minimal_pdf_escapes_text_and_spans_pages() -> None:
    data = minimal_pdf("A (b) \\ c", [f"line {i} (x)" for i in range(100)])
    assert pdf_is_well_formed(data)
    assert b"/Count 3" in data and b"A \\(b\\) \\\\ c" in data
