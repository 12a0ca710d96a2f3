"""Reading GET /metrics in tests: the bearer token (a fixture in conftest) and the samples."""

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token"


def samples(text: str) -> dict:
    """{(name, (label values…)): value} of every sample."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: dict, name: str, **labels) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


def scrape(client, token) -> dict:
    response = client.get("/metrics", **token)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())
