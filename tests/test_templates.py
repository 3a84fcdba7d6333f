"""Templates: every reply renders, mistakes are named with file and line, the sandbox holds."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from daemon.catalog import Catalog
from daemon.config import Company
from daemon.draft import sample_contexts
from daemon.errors import ConfigError
from daemon.templating import (MAX_OUTPUT_CHARS, REPLY_VARIANTS, RenderError, check_templates,
                               environment, join_words, render, render_all_for_check,
                               reply_template_names, split_subject)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
LANGS = ("en", "es", "fr", "ru", "ar", "zh")


@pytest.fixture(scope="module")
def contexts() -> list[dict[str, Any]]:
    catalog = Catalog.from_csv_text((ROOT / "rules" / "catalog.csv").read_text("utf-8"), "c")
    company = Company(name="Yiwu Brightstar Crafts Co., Ltd.", founded=2009,
                      total_assets="USD 8 million", annual_sales="USD 15 million",
                      awards=("BSCI audited factory",), contact_person="Lily Chen",
                      telephone="+86 579 8555 0101", fax="+86 579 8555 0102",
                      website="https://www.brightstar-crafts.example",
                      address="No. 88 Chouzhou North Road, Yiwu", strengths=("own factory",))
    return sample_contexts(company, catalog, today=date(2026, 11, 20))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the shipped templates to break."""
    shutil.copytree(TEMPLATES, tmp_path / "templates", ignore=shutil.ignore_patterns(
        "attachments"))
    return tmp_path / "templates"


def one(root: Path, text: str, name: str = "reply/en/t.txt.j2") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the shipped templates


def test_every_shipped_template_compiles() -> None:
    assert check_templates(TEMPLATES) == []


def test_every_reply_template_renders_against_the_sample_contexts(
        contexts: list[dict[str, Any]]) -> None:
    assert render_all_for_check(TEMPLATES, contexts) == []


def test_every_language_has_every_variant() -> None:
    names = set(reply_template_names(TEMPLATES))
    for lang in LANGS:
        for variant in REPLY_VARIANTS:
            assert f"reply/{lang}/{variant}.txt.j2" in names


@pytest.mark.parametrize("lang", LANGS)
def test_no_template_prints_the_grade_or_its_reasons(contexts: list[dict[str, Any]],
                                                     lang: str) -> None:
    env = environment(TEMPLATES)
    for context in contexts:
        text = render(env, f"reply/{lang}/{context['variant']}.txt.j2", context).text
        subject, body = split_subject(text)
        assert subject
        assert "a sample reason" not in body and "sample:" not in body
        assert not re.search(r"\bgrade\b", body, re.IGNORECASE)


# ------------------------------------------------------------------ mistakes, with file and line


def test_a_misspelt_name_is_named_with_file_and_line(root: Path,
                                                     contexts: list[dict[str, Any]]) -> None:
    path = root / "reply" / "en" / "D.txt.j2"
    lines = path.read_text("utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if "{% block body %}" in line) + 1
    lines.insert(at, "Dear {{ buyer.nmae }},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = render_all_for_check(root, contexts)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{at + 1}: ")
    assert "nmae" in problems[0] and "misspelt" in problems[0]


def test_an_error_in_an_included_piece_names_the_piece(root: Path,
                                                       contexts: list[dict[str, Any]]) -> None:
    piece = root / "reply" / "fr" / "_company.txt.j2"
    piece.write_text(piece.read_text("utf-8") + "{{ company.fondee }}\n", encoding="utf-8")
    problems = render_all_for_check(root, contexts)
    assert problems and all(p.startswith(f"{piece}:") for p in problems)


def test_render_raises_a_config_error_with_file_and_line(root: Path) -> None:
    one(root, "Subject: x\n\nline two\n{{ nope }}\n")
    with pytest.raises(RenderError) as caught:
        render(environment(root), "reply/en/t.txt.j2", {})
    assert isinstance(caught.value, ConfigError)
    assert caught.value.line == 4
    assert str(caught.value).startswith(str(root / "reply" / "en" / "t.txt.j2") + ":4: ")


def test_a_syntax_error_names_file_and_line(root: Path) -> None:
    path = one(root, "Subject: x\n\n{% if %}\n")
    assert check_templates(root) == [f"{path}:3: Expected an expression, got 'end of "
                                     f"statement block'"]
    with pytest.raises(RenderError, match=r":3: "):
        render(environment(root), "reply/en/t.txt.j2", {})


def test_a_missing_subject_line_is_reported(root: Path, contexts: list[dict[str, Any]]) -> None:
    path = root / "reply" / "es" / "C.txt.j2"
    path.write_text(path.read_text("utf-8").replace("{% extends", "Hola\n{% extends"), "utf-8")
    problems = render_all_for_check(root, contexts)
    assert problems == [f"{path}:1: the first line must be 'Subject: ...' (the subject of the "
                        f"reply), found 'Hola'"]


def test_a_missing_english_template_is_reported(root: Path,
                                                contexts: list[dict[str, Any]]) -> None:
    (root / "reply" / "en" / "sample.txt.j2").unlink()
    problems = render_all_for_check(root, contexts)
    assert any("reply/en/sample.txt.j2: missing" in p for p in problems)


def test_a_missing_template_falls_back_or_is_named(root: Path) -> None:
    one(root, "Subject: x\n")
    env = environment(root)
    assert render(env, ["reply/pt/t.txt.j2", "reply/en/t.txt.j2"], {}).name == \
        "reply/en/t.txt.j2"
    with pytest.raises(RenderError, match="template not found"):
        render(env, ["reply/pt/none.txt.j2"], {})


# ------------------------------------------------------------------ the sandbox


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ ''|attr('__class__') }}",                          # CVE-2025-27516 style
    "{{ (''|attr('__class__')).__mro__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ ''.format.__self__ }}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{{ 'x' * 10**9 }}",
    "{{ [1] * 10**9 }}",
    "{{ 9**9**9 }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ 'a'|indent(10**9) }}",
    "{{ '%1000000000s'|format('x') }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '{:>1000000000}'.format('x') }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused_with_a_clear_message(root: Path, source: str) -> None:
    path = one(root, "Subject: x\n\n" + source + "\n")
    with pytest.raises(RenderError) as caught:
        render(environment(root), "reply/en/t.txt.j2", {})
    message = str(caught.value)
    assert message.startswith(f"{path}:3: "), message
    assert "sandbox" in message or "undefined" in message


def test_check_reports_a_sandbox_escape(root: Path, contexts: list[dict[str, Any]]) -> None:
    path = root / "reply" / "ru" / "A.txt.j2"
    path.write_text(path.read_text("utf-8").replace(
        "{% block body %}", "{% block body %}{{ cycler.__init__.__globals__ }}"), "utf-8")
    problems = render_all_for_check(root, contexts)
    assert len(problems) == 1 and problems[0].startswith(str(path))
    assert "refused by the template sandbox" in problems[0]


def test_output_is_capped(root: Path) -> None:
    one(root, "Subject: x\n{% for i in range(100000) %}0123456789{% endfor %}\n")
    with pytest.raises(RenderError, match=f"output larger than {MAX_OUTPUT_CHARS}"):
        render(environment(root), "reply/en/t.txt.j2", {})
    one(root, "Subject: x\n{% for i in range(20) %}0123456789{% endfor %}\n")
    with pytest.raises(RenderError, match="output larger than 100 characters"):
        render(environment(root), "reply/en/t.txt.j2", {}, max_chars=100)


def test_ordinary_arithmetic_still_works(root: Path) -> None:
    one(root, "{{ '-' * 20 }} {{ 2 ** 10 }} {{ 3 * 4 }} {{ 'ab'.upper() }} {{ 'x'.ljust(3) }}|")
    text = render(environment(root), "reply/en/t.txt.j2", {}).text
    assert text == "-" * 20 + " 1024 12 AB x  |"


# ------------------------------------------------------------------ plain-text conventions


@pytest.mark.parametrize(("source", "output"), [
    ("{% if a %}\nyes\n{% endif %}\nend\n", "yes\nend\n"),                 # tag lines vanish
    ("Dear {{ n }},{% if a %}!{% endif %}\nnext\n", "Dear N,!\nnext\n"),   # text lines keep
    ("{% for x in xs %}\n  - {{ x }}\n{% endfor %}\n", "  - 1\n  - 2\n"),
    ("a{%- if a %} b{% endif -%}\nc\n", "a bc\n"),                         # explicit trim kept
])
def test_line_breaks(root: Path, source: str, output: str) -> None:
    one(root, source)
    context = {"a": True, "n": "N", "xs": [1, 2]}
    assert render(environment(root), "reply/en/t.txt.j2", context).text == output


def test_line_numbers_do_not_move(root: Path) -> None:
    one(root, "x{% if a %}y{% endif %}\nz{% if a %}{% endif %}\n{{ missing }}\n")
    with pytest.raises(RenderError) as caught:
        render(environment(root), "reply/en/t.txt.j2", {"a": True})
    assert caught.value.line == 3


@pytest.mark.parametrize(("items", "args", "text"), [
    (["a"], ("and",), "a"),
    (["a", "b"], ("and",), "a and b"),
    (["a", "b", "c"], ("and",), "a, b and c"),
    (["DHL", "FedEx", "UPS"], ("或", "、"), "DHL、FedEx 或 UPS"),
    ([], ("and",), ""),
])
def test_join_words(items: list[str], args: tuple[str, ...], text: str) -> None:
    assert join_words(items, *args) == text


@pytest.mark.parametrize(("text", "subject", "body"), [
    ("Subject: Re: hi\n\nbody\n", "Re: hi", "body\n"),
    ("\n\nSubject:   x  \nbody", "x", "body"),
])
def test_split_subject(text: str, subject: str, body: str) -> None:
    assert split_subject(text) == (subject, body)


def test_split_subject_needs_a_subject_line() -> None:
    with pytest.raises(ValueError, match="first line must be 'Subject:"):
        split_subject("Dear buyer,\n")
