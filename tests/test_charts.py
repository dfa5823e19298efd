"""Charts are tables first: the numbers are in the page, the script only draws them."""

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from rundbrief.charts import Chart


def test_a_chart_renders_its_numbers_as_a_table_with_machine_values():
    chart = Chart(
        caption="Replies per week",
        x_label="Week",
        series=["People", "Messages"],
        rows=[("2026-W48", [1200, 1500.5]), ("2026-W49", [3, None])],
        kind="bar",
    )
    with translation.override("de"):
        html = render_to_string("includes/chart.html", {"chart": chart})
    assert 'data-chart="bar"' in html
    assert "<figcaption>Replies per week</figcaption>" in html
    assert '<th scope="col">People</th><th scope="col">Messages</th>' in html
    # Shown in the reader's format, read by the script from a locale-free value.
    assert 'data-value="1500.5">1500,5</td>' in html
    assert '<th scope="row">2026-W49</th><td data-value="3">3</td><td>–</td>' in html
    assert "Die Zahlen stehen in der Tabelle darunter." in html


def test_an_empty_chart_says_so_instead_of_drawing_nothing():
    chart = Chart(caption="Bounces", x_label="Week", series=["Bounces"], rows=[], empty_text="No bounces.")
    html = render_to_string("includes/chart.html", {"chart": chart})
    assert "No bounces." in html and "<table" not in html


def test_rows_must_have_one_value_per_series():
    with pytest.raises(ValueError, match="has 1 values for 2 series"):
        Chart(caption="x", x_label="x", series=["a", "b"], rows=[("r", [1])])
