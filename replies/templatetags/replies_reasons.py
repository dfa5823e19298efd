"""{{ reasons|reason_text }} and {{ hit|hit_reason }}: stored reason codes in the active language."""

from django import template

from replies import reasons

register = template.Library()


@register.filter
def reason_text(items) -> str:
    return reasons.render(items)


@register.filter
def hit_reason(hit: dict) -> str:
    return reasons.render_hit(hit) if isinstance(hit, dict) else ""
