from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.auth.services import user_get_or_provision
from core.auth.tokens import TokenError, issue_token


class Command(BaseCommand):
    help = "Create or update a user and print a bearer token for it (the token is the last line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default=None)
        parser.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")

    def handle(self, *args: Any, username: str, email: str | None, ttl: int | None, **options: Any) -> None:
        if not 1 <= len(username) <= 150:
            raise CommandError("username must be 1 to 150 characters")
        if ttl is not None and ttl <= 0:
            raise CommandError("--ttl must be a positive number of seconds")
        user_get_or_provision(username=username, email=email)
        try:
            token = issue_token(subject=username, email=email, ttl_seconds=ttl)
        except TokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(token)
