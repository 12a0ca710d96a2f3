"""`manage.py add_webhook_endpoint --url URL [--secret whsec_…] [--event TYPE]…`: add an
endpoint from a script. No --event: every type. No --secret: one is generated and printed
once (it is never shown again). Exit 2 for bad input, which adds nothing."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from webhooks.models import EVENT_TYPES
from webhooks.services import endpoint_create


class Command(BaseCommand):
    help = "Add a webhook endpoint (URL, event types, Standard Webhooks secret)."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="http:// or https:// URL that receives the events.")
        parser.add_argument("--secret", help="whsec_<base64> secret; generated and printed when omitted.")
        parser.add_argument(
            "--event",
            action="append",
            default=[],
            choices=EVENT_TYPES,
            metavar="TYPE",
            help=f"An event type to send (repeatable; default: all): {', '.join(EVENT_TYPES)}.",
        )
        parser.add_argument("--inactive", action="store_true", help="Add it switched off.")

    def handle(self, *args, **options):
        try:
            endpoint, secret = endpoint_create(
                url=options["url"],
                secret=options["secret"],
                event_types=options["event"],
                active=not options["inactive"],
            )
        except ValidationError as invalid:
            raise CommandError(" ".join(invalid.messages), returncode=2) from None
        types = ", ".join(endpoint.event_type_list) or "all event types"
        self.stdout.write(f"Added webhook endpoint {endpoint.id}: {endpoint.url} ({types}).")
        if options["secret"] is None:
            self.stdout.write(f"Secret (shown once, store it now): {secret}")
