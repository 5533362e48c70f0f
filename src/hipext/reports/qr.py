"""QR codes as inline SVG (segno: pure Python, no image library), for the patient link on screen and on paper."""

from __future__ import annotations

import io


def qr_svg(data: str, *, title: str = "QR code", scale: int = 4) -> str:
    """An SVG QR code for `data` with error correction level M (readable when printed and slightly creased).

    The SVG has a <title> for screen readers; the caller shows the link as text beside it for anyone who cannot
    scan.
    """
    import segno

    code = segno.make(data, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True, title=title,
              svgclass="qr", lineclass=None, dark="#000")
    return out.getvalue().decode("utf-8")
