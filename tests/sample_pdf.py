"""A small valid PDF for tests that need a company's own PDF file."""

from __future__ import annotations

from collections.abc import Sequence


def minimal_pdf(title: str, lines: Sequence[str], *, box_caption: str = "") -> bytes:
    """A small valid PDF (one A4 page per 48 lines, Helvetica, Latin-1 text).

    A company's own price sheet or e-sample for the tests; `box_caption` draws a framed
    box where a product photo goes.
    """
    pages = [list(lines[i:i + 48]) for i in range(0, max(len(lines), 1), 48)]
    objects: list[bytes] = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                            b"/Encoding /WinAnsiEncoding >>",
                            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                            b"/Encoding /WinAnsiEncoding >>"]
    kids = []
    for number, page in enumerate(pages):
        stream = _page_stream(title if number == 0 else "", page,
                              box_caption if number == 0 else "")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
                       b"<< /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>"
                       % len(objects))
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids)
                  + b"] /Count %d >>" % len(kids))
    objects.append(b"<< /Title (" + _pdf_text(title) + b") /Producer (inquiryd) >>")
    return _pdf_file(objects, info=len(objects))


def _page_stream(title: str, lines: Sequence[str], box_caption: str) -> bytes:
    parts = []
    y = 790
    if title:
        parts.append(b"BT /F2 16 Tf 56 %d Td (%s) Tj ET" % (y, _pdf_text(title)))
        y -= 30
    if box_caption:
        parts.append(b"0.6 G 56 %d 200 150 re S 0 G" % (y - 150))
        parts.append(b"BT /F1 9 Tf 66 %d Td (%s) Tj ET" % (y - 80, _pdf_text(box_caption)))
        y -= 170
    body = b" T* ".join(b"(%s) Tj" % _pdf_text(line) for line in lines)
    parts.append(b"BT /F1 11 Tf 14 TL 56 %d Td %s ET" % (y, body))
    return b"\n".join(parts)


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _pdf_file(objects: Sequence[bytes], *, info: int) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, info, xref))
    return bytes(out)
