"""{% last_runs "revoke" %}: the "last runs" box of a job page (templates/jobs/_last_runs.html),
so each job page shows its recent runs without its view having to fetch them."""

from django import template

from jobs.selectors import job_runs_recent

register = template.Library()


@register.inclusion_tag("jobs/_last_runs.html")
def last_runs(job: str) -> dict:
    return {"job": job, "runs": job_runs_recent(job=job)}
