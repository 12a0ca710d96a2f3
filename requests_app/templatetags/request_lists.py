"""{% sort_header "Label" "key" %}: a column heading of All Requests that sorts by SORTS[key]
(toggling the direction when it already does), with aria-sort on the sorted column. Needs
`filters` and `sort_query` (the query string without sort= and page=) in the context."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context, label: str, key: str) -> str:
    current = context["filters"].sort
    ascending, descending = current == key, current == f"-{key}"
    target = f"-{key}" if ascending else key
    query = context["sort_query"]
    href = f"?{query}&sort={target}" if query else f"?sort={target}"
    arrow = " ▲" if ascending else " ▼" if descending else ""
    sort = ' aria-sort="ascending"' if ascending else ' aria-sort="descending"' if descending else ""
    return format_html('<th scope="col"{}><a href="{}">{}{}</a></th>', mark_safe(sort), href, label, arrow)
