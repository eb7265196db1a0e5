"""Deterministic on-the-fly PDFs for generated attachments (never stored; derived from a seed key)."""

from __future__ import annotations

import hashlib
import random


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def generate_pdf(gen_key: str, size: int, lines: list[str]) -> bytes:
    """A valid one-page PDF showing `lines`, padded to about `size` bytes with deterministic filler.

    The filler lives in an unreferenced stream object, so viewers ignore it; the same `gen_key`
    always yields the same bytes.
    """
    text_ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
    for line in lines:
        safe = _pdf_escape(line.encode("latin-1", "replace").decode("latin-1"))
        text_ops.append(f"({safe}) Tj T*")
    text_ops.append("ET")
    content = "\n".join(text_ops).encode("latin-1")

    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"

    def assemble(filler: bytes) -> bytes:
        objs = [*objects]
        if filler:
            objs.append(b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream")
        out = bytearray(header)
        offsets = []
        for i, body in enumerate(objs, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
        xref_at = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref_at)
        return bytes(out)

    base = assemble(b"")
    overhead = 80  # the extra object header, stream keywords and xref line
    filler_len = max(0, size - len(base) - overhead)
    if filler_len == 0:
        return base
    seed = int.from_bytes(hashlib.sha256(gen_key.encode("utf-8")).digest()[:8], "big")
    filler = random.Random(seed).randbytes(filler_len)
    return assemble(filler)
