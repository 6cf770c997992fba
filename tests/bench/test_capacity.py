"""The capacity table of scenario 10: cores and replicas from CPU per action (pure arithmetic)."""

from __future__ import annotations

from bench import capacity


def test_replicas_are_the_cores_over_the_usable_fraction_rounded_up() -> None:
    (web,) = capacity.plan({"web": 4.0})
    assert web.cores == {1_000: 4.0, 10_000: 40.0}
    assert web.replicas == {1_000: 6, 10_000: 58}  # 4 / 0.7 = 5.7, 40 / 0.7 = 57.1
    assert web.scales_by == "replicas"


def test_a_single_process_role_past_one_process_is_called_out() -> None:
    rows = capacity.plan({"relay": 0.5, "beat": 0.01})
    text = capacity.table(rows)
    relay_line = next(line for line in text.splitlines() if line.startswith("| relay |"))
    assert relay_line.count("more than one process can do") == 1  # at 10,000/s (5 cores), not at 1,000/s
    assert "| beat | 0.01 | — | 0.0 | 1 | 0.1 | 1 |" in text


def test_servers_are_sized_in_cores() -> None:
    text = capacity.table(capacity.plan({"PostgreSQL": 1.4}, idle_cores={"PostgreSQL": 0.05}))
    assert "| PostgreSQL | 1.40 | 0.05 | 1.4 | 2 cores | 14.0 | 20 cores |" in text
