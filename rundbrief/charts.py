"""Charts with their numbers: a table that static/js/charts.js also draws as a chart.

Every chart in Rundbrief is a real table first (screen readers, no scripts, copy and paste);
the script adds the picture above it. Views and selectors build a ``Chart`` and templates
render it with ``{% include "includes/chart.html" with chart=... %}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["line", "bar", "stacked-bar"]


@dataclass(frozen=True)
class Chart:
    """``rows`` are (label, one value per series); a missing value is None and drawn as a gap."""

    caption: str
    x_label: str
    series: Sequence[str]
    rows: Sequence[tuple[str, Sequence[float | int | None]]]
    kind: Kind = "line"
    # Shown instead of the chart when there is nothing to draw yet.
    empty_text: str = ""
    id: str = field(default="")

    def __post_init__(self) -> None:
        for label, values in self.rows:
            if len(values) != len(self.series):
                raise ValueError(f"row {label!r} has {len(values)} values for {len(self.series)} series")

    @property
    def is_empty(self) -> bool:
        return not self.rows
