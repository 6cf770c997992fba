"""Channel-layer group names: one helper, so a user's group is spelled the same everywhere."""

from __future__ import annotations


def user_group(user_id: int | str) -> str:
    """The group every open connection of `user_id` joins, and the only one it joins."""
    return f"sync.user.{int(user_id)}"
