"""{% job_schedule_summary "revoke" as schedule %}: the job page's schedule box
(templates/jobs/_schedule.html), without the page's view having to fetch it."""

from django import template

from jobs.monitoring import JobScheduleSummary, job_schedule_summary

register = template.Library()


@register.simple_tag(name="job_schedule_summary")
def schedule_summary(job: str) -> JobScheduleSummary:
    return job_schedule_summary(job)
