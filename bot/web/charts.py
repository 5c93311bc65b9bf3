"""Server-side SVG charts: no JavaScript, readable on a phone, described for screen readers.

Each chart is an <svg role="img"> with a <title> and a <desc> that states the figures, so the picture
is never the only way to get them. Sizes are in viewBox units: the chart scales with the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 480


@dataclass(frozen=True)
class Part:
    label: str
    value: int
    css: str  # a class of style.css that sets the fill (status colours shared with the badges)


def _nice_max(value: int) -> int:
    """The axis top: an even round number at or above the largest value (so the half tick is whole)."""
    if value <= 10:
        return max(value + value % 2, 2)
    power = 10
    while True:
        for m in (1, 2, 3, 4, 5, 6, 8):
            if m * power >= value:
                return m * power
        power *= 10


def _open(ident: str, title: str, desc: str, height: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )


def _empty(text: str) -> Markup:
    return Markup('<p class="chart-empty">{}</p>').format(text)


def columns(ident: str, title: str, desc: str, data: Sequence[tuple[str, int]], empty: str) -> Markup:
    """Vertical bars for a time series (questions per month)."""
    if not data or not any(v for _, v in data):
        return _empty(empty)
    height, left, right, top, bottom = 230, 34, 8, 18, 34
    plot_h = height - top - bottom
    top_value = _nice_max(max(v for _, v in data))
    slot = (WIDTH - left - right) / len(data)
    out = [_open(ident, title, desc, height)]
    for tick in (0, top_value // 2, top_value):
        y = top + plot_h - plot_h * tick / top_value
        out.append(f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, (label, value) in enumerate(data):
        x = left + slot * i + slot * 0.18
        w = slot * 0.64
        h = plot_h * value / top_value
        y = top + plot_h - h
        out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="2"/>')
        if value:
            out.append(f'<text class="value" x="{x + w / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle">{value}</text>')
        # Every other month label gives way on a phone, where twelve would overlap.
        alt = " alt" if (len(data) - 1 - i) % 2 else ""
        out.append(
            f'<text class="axis{alt}" x="{x + w / 2:.1f}" y="{height - bottom + 20}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def bars(
    ident: str,
    title: str,
    desc: str,
    data: Sequence[tuple[str, int]],
    empty: str,
    *,
    top: int | None = None,
    unit: str = "",
) -> Markup:
    """Horizontal bars, the label above each bar: long theme names stay readable on a narrow screen.

    `top` fixes the scale (100 for percentages, so that two charts compare); by default the largest value."""
    if not data:
        return _empty(empty)
    row, pad = 48, 10
    height = row * len(data) + pad
    top_value = top or max(max(v for _, v in data), 1)
    span = WIDTH - 50
    out = [_open(ident, title, desc, height)]
    for i, (label, value) in enumerate(data):
        y = pad + row * i
        w = max(span * value / top_value, 2 if value else 0)
        out.append(f'<text class="label" x="0" y="{y + 14}">{escape(label)}</text>')
        out.append(f'<rect class="bar" x="0" y="{y + 22}" width="{w:.1f}" height="16" rx="2"/>')
        out.append(f'<text class="value" x="{w + 6:.1f}" y="{y + 36}">{value}{escape(unit)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def percentages(values: Sequence[int]) -> list[int]:
    """Whole percentages that add up to 100 (largest remainders), so the legend never says 98 %."""
    total = sum(values)
    if not total:
        return [0 for _ in values]
    exact = [100 * v / total for v in values]
    floors = [int(e) for e in exact]
    order = sorted(range(len(values)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return floors


def legend(items: Sequence[tuple[str, str, str]]) -> Markup:
    """An HTML legend (css class, label, figure): it wraps and scales with the text, unlike SVG."""
    rows = Markup("").join(
        Markup(
            '<li><span class="swatch {}" aria-hidden="true"></span><span class="what">{}</span>'
            '<span class="fig">{}</span></li>'
        ).format(css, label, figure)
        for css, label, figure in items
    )
    return Markup('<ul class="legend">{}</ul>').format(rows)


def share(ident: str, title: str, desc: str, parts: Sequence[Part], empty: str) -> Markup:
    """One bar split into shares, then a legend that gives each count and percentage."""
    total = sum(p.value for p in parts)
    if not total:
        return _empty(empty)
    out = [_open(ident, title, desc, 36)]
    x = 0.0
    for p in parts:
        if p.value:
            w = WIDTH * p.value / total
            out.append(f'<rect class="{escape(p.css)}" x="{x:.1f}" y="0" width="{w:.1f}" height="36"/>')
            x += w
    out.append("</svg>")
    pcts = percentages([p.value for p in parts])
    items = [(p.css, p.label, f"{p.value} · {pct} %") for p, pct in zip(parts, pcts, strict=True)]
    return Markup("".join(out)) + legend(items)


@dataclass(frozen=True)
class Attendance:
    label: str
    registered: int
    attended: int | None  # None: not taken yet (future session)
    capacity: int | None


def attendance(
    ident: str, title: str, desc: str, rows: Sequence[Attendance], names: Sequence[str], empty: str
) -> Markup:
    """Registrations per session: the capacity as a light track, registered over it, attended below."""
    if not rows:
        return _empty(empty)
    row, head = 54, 4
    height = head + row * len(rows)
    top_value = max(max(max(r.registered, r.capacity or 0, r.attended or 0) for r in rows), 1)
    span = WIDTH - 60
    out = [_open(ident, title, desc, height)]
    for i, r in enumerate(rows):
        y = head + row * i
        out.append(f'<text class="label" x="0" y="{y + 14}">{escape(r.label)}</text>')
        if r.capacity:
            out.append(
                f'<rect class="track" x="0" y="{y + 22}" width="{span * r.capacity / top_value:.1f}" height="12"/>'
            )
        w = span * r.registered / top_value
        out.append(f'<rect class="bar" x="0" y="{y + 22}" width="{max(w, 2 if r.registered else 0):.1f}" height="12"/>')
        end = max(w, span * (r.capacity or 0) / top_value)
        places = f"/{r.capacity}" if r.capacity else ""
        out.append(f'<text class="value" x="{end + 6:.1f}" y="{y + 33}">{r.registered}{places}</text>')
        if r.attended is not None:
            aw = span * r.attended / top_value
            out.append(
                f'<rect class="bar-alt" x="0" y="{y + 36}" width="{max(aw, 2 if r.attended else 0):.1f}" height="8"/>'
            )
            out.append(f'<text class="value small" x="{aw + 6:.1f}" y="{y + 45}">{r.attended}</text>')
    out.append("</svg>")
    keys = legend([(css, name, "") for css, name in zip(("bar", "bar-alt", "track"), names, strict=True)])
    return keys + Markup("".join(out))
