"""The pending-bytes budget: admission order, oversized ranges, cancellation, charges."""

from __future__ import annotations

import asyncio

import pytest

from rasteret.read.inflight import ByteBudget


def test_ranges_wait_for_room_and_are_admitted_in_the_order_they_asked() -> None:
    async def scenario() -> list[str]:
        budget = ByteBudget(100)
        order: list[str] = []

        async def ask(name: str, nbytes: int) -> None:
            await budget.acquire(nbytes)
            order.append(name)

        await budget.acquire(80)
        waiting = [asyncio.create_task(ask(n, b)) for n, b in (("big", 50), ("small", 10))]
        await asyncio.sleep(0)
        assert order == [] and budget.pending == 80  # "small" fits but may not overtake
        budget.release(80)
        await asyncio.gather(*waiting)
        assert budget.pending == 60
        return order

    assert asyncio.run(scenario()) == ["big", "small"]


def test_a_range_larger_than_the_budget_goes_alone() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        await budget.acquire(500)  # nothing pending: admitted
        later = asyncio.create_task(budget.acquire(1))
        await asyncio.sleep(0)
        assert not later.done()
        budget.release(500)
        await later
        assert budget.pending == 1

    asyncio.run(scenario())


def test_a_cancelled_wait_gives_its_place_back() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        await budget.acquire(90)
        first = asyncio.create_task(budget.acquire(50))
        second = asyncio.create_task(budget.acquire(10))
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await second  # fits once the cancelled range no longer stands in front
        assert budget.pending == 100

    asyncio.run(scenario())


def test_a_charge_never_waits_but_holds_new_ranges_back() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        await budget.acquire(100)
        budget.charge(40)  # past the limit, at once
        assert budget.pending == 140
        budget.release(100)
        later = asyncio.create_task(budget.acquire(70))
        await asyncio.sleep(0)
        assert not later.done()  # 40 + 70 > 100
        budget.release(40)
        await later
        assert budget.pending == 70

    asyncio.run(scenario())
