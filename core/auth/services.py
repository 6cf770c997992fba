from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

User = get_user_model()


def user_get_or_provision(*, username: str, email: str | None = None) -> AbstractBaseUser:
    """The user named `username`, created on first sight; `email` updated when it changed."""
    user = User.objects.filter(username=username).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, email=email or "")
                user.set_unusable_password()
                user.save(update_fields=["password"])
        except IntegrityError:  # a concurrent first request created it
            user = User.objects.get(username=username)
    if email and user.email != email:
        user.email = email
        user.save(update_fields=["email"])
    return user


def user_from_claims(claims: dict[str, Any]) -> AbstractBaseUser:
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    return user_get_or_provision(username=claims["sub"], email=email)
