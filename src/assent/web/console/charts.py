"""The analytics page's charts: server-side SVG made with pygal, in the console's colours, with no
script (the figures are also in the table under each chart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1d2433",
    foreground_strong="#1d2433",
    foreground_subtle="#e2e6ee",
    opacity=".85",
    opacity_hover="1",
    colors=("#3b3fd8", "#b42318", "#0f7b3f", "#c27c00", "#7a5af8", "#5b6478"),
    font_family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    value_font_size=11,
)


def _options(labels: Sequence[str]) -> dict:
    return {
        "style": STYLE,
        "js": [],  # no script: the SVG is a picture, the table beside it has the numbers
        "disable_xml_declaration": True,
        "height": 320,
        "width": 900,
        "explicit_size": False,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "x_labels": list(labels),
        "x_labels_major_count": 8,
        "show_minor_x_labels": len(labels) <= 16,
        "x_label_rotation": 0 if len(labels) <= 16 else 30,
        "truncate_label": 12,
        "print_values": False,
        "margin": 10,
        "margin_bottom": 28,  # room for the legend under the axis labels
    }


def _svg(chart: pygal.graph.graph.Graph, title: str) -> Markup:
    svg = chart.render(is_unicode=True)
    # The chart is described by its caption and table; assistive technology reads those.
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1))


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *, stacked: bool = False,
         percent: bool = False) -> Markup:  # fmt: skip
    kind = pygal.StackedBar if stacked else pygal.Bar
    chart = kind(**_options(labels))
    if percent:
        chart.value_formatter = lambda v: f"{v:.2f}%"
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart, title)


def lines(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
          percent: bool = False) -> Markup:  # fmt: skip
    chart = pygal.Line(**_options(labels), dots_size=3, allow_interruptions=True)
    if percent:
        chart.value_formatter = lambda v: f"{v:.2f}%"
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart, title)


def horizontal(title: str, items: Sequence[tuple[str, int]]) -> Markup:
    chart = pygal.HorizontalBar(**{**_options([]), "height": max(160, 40 * len(items) + 80), "show_legend": False})
    chart.x_labels = [label for label, _ in items]
    chart.add("Opt-outs", [n for _, n in items])
    return _svg(chart, title)
