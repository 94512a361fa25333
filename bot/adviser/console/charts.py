"""Bar charts as inline SVG, drawn on the server: no chart library, no script, and each chart has
a text alternative (the page shows the same figures in a table beside it)."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, BAR, GAP, LABEL = 640, 22, 6, 200


def bar_chart(rows: list[tuple[str, float]] | list[list], title: str) -> Markup:
    """A horizontal bar chart of (label, value) rows."""
    rows = [(str(label), float(value or 0)) for label, value in rows]
    if not rows:
        return Markup('<p class="empty">No data yet.</p>')
    top = max(value for _, value in rows) or 1.0
    height = len(rows) * (BAR + GAP) + GAP
    summary = "; ".join(f"{label}: {value:g}" for label, value in rows[:20])
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}: {escape(summary)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value) in enumerate(rows):
        y = GAP + i * (BAR + GAP)
        length = (WIDTH - LABEL - 60) * value / top
        parts.append(
            f'<text x="{LABEL - 8}" y="{y + BAR * 0.7:.1f}" text-anchor="end">'
            f"{escape(label[:28])}</text>"
            f'<rect x="{LABEL}" y="{y}" width="{max(length, 1):.1f}" height="{BAR}"></rect>'
            f'<text x="{LABEL + length + 6:.1f}" y="{y + BAR * 0.7:.1f}">{value:g}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
