"""Device book-keeping and command planning (pure functions; no devices needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballast.live.devices import (
    Device,
    apply_outcomes,
    group_counts,
    group_power_estimate_mw,
    plan_commands,
    planned_miner_mw,
    split_fleet,
)
from ballast.live.fleet_table import FleetTable

RUN_MW = np.array([10.0, 6.0])
SLEEP_MW = np.array([0.1, 0.05])


def _dev(i: int, group: int, want_run: bool | None, status: str = "ok", asleep: bool | None = None) -> Device:
    if asleep is None and status == "ok":
        asleep = not want_run
    return Device(f"10.0.{group}.{i}", group, want_run, status, asleep)


@pytest.mark.parametrize(
    ("devices", "forced", "controllable", "fixed_mw", "to_sleep"),
    [
        # all compliant, nothing forced: all controllable, nothing fixed
        ([_dev(1, 0, True), _dev(2, 0, False), _dev(1, 1, True)], set(), [2, 1], 0.0, []),
        # stuck running (ignored) counts at full power; asleep-unreachable at sleep power
        (
            [_dev(1, 0, False, "ignored", asleep=False), _dev(2, 0, True, "timeout", asleep=True)],
            set(),
            [0, 0],
            10.1,
            [],
        ),
        # unknown state: assume full power
        ([_dev(1, 1, None, "unknown")], set(), [0, 0], 6.0, []),
        # forced group: running ones are commanded to sleep and count at full power until verified
        ([_dev(1, 0, True), _dev(2, 0, False), _dev(1, 1, True)], {0}, [0, 1], 10.1, ["10.0.0.1"]),
        # forced + unreachable: not re-sent every tick (the read-back loop retries), full power
        ([_dev(1, 0, True, "timeout")], {0}, [0, 0], 10.0, []),
        # forced + non-compliant but reachable: re-sent
        ([_dev(1, 0, False, "ignored", asleep=False)], {0}, [0, 0], 10.0, ["10.0.0.1"]),
    ],
)
def test_split_fleet(devices, forced, controllable, fixed_mw, to_sleep):
    c, f, s = split_fleet(FleetTable(devices), forced, RUN_MW, SLEEP_MW)
    assert c.tolist() == controllable
    assert f == pytest.approx(fixed_mw)
    assert s == to_sleep


@pytest.mark.parametrize(
    ("wants", "target", "to_sleep", "to_wake"),
    [
        ([True, True, False, False], 2, [], []),
        ([True, True, False, False], 3, [], ["10.0.0.3"]),
        ([True, True, False, False], 1, ["10.0.0.2"], []),  # highest address sleeps first
        ([False, True, False, True], 4, [], ["10.0.0.1", "10.0.0.3"]),
        ([True, True, True, True], 0, ["10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1"], []),
    ],
)
def test_plan_keeps_running_miners_and_is_stable(wants, target, to_sleep, to_wake):
    devs = [_dev(i + 1, 0, w) for i, w in enumerate(wants)]
    assert plan_commands(FleetTable(devs), np.array([target, 0]), set()) == (to_sleep, to_wake)


@st.composite
def fleets(draw):
    n = draw(st.integers(1, 30))
    devs = [
        Device(
            f"10.0.0.{i + 1}",
            draw(st.integers(0, 1)),
            draw(st.booleans()),
            draw(st.sampled_from(["ok", "ok", "ok", "ignored", "timeout"])),
        )
        for i in range(n)
    ]
    forced = draw(st.sets(st.integers(0, 1)))
    return devs, forced


@given(fleets(), st.integers(0, 30), st.integers(0, 30))
def test_plan_reaches_the_target_and_never_wakes_a_forced_miner(fleet, t0, t1):
    devs, forced = fleet
    table = FleetTable(devs)
    controllable, _, _ = split_fleet(table, forced, RUN_MW, SLEEP_MW)
    target = np.minimum([t0, t1], controllable)
    to_sleep, to_wake = plan_commands(table, target, forced)
    assert not set(to_sleep) & set(to_wake)
    by_ip = {d.ip: d for d in devs}
    assert all(by_ip[ip].group not in forced and by_ip[ip].ok for ip in to_wake + to_sleep)
    after = {d.ip: (d.want_run and d.ip not in to_sleep) or d.ip in to_wake for d in devs}
    for g in (0, 1):
        if g in forced:
            continue
        running = sum(after[d.ip] for d in devs if d.group == g and d.ok)
        assert running == target[g]


@dataclass
class _Outcome:
    ip: str
    status: str
    reading: object | None = None

    @property
    def compliant(self) -> bool:
        return self.status == "ok"


def test_apply_outcomes_and_counts():
    devs = {d.ip: d for d in (_dev(1, 0, True), _dev(2, 0, True), _dev(3, 0, True))}
    written = apply_outcomes(
        devs,
        [
            _Outcome("10.0.0.1", "ok"),
            _Outcome("10.0.0.2", "ignored"),
            _Outcome("10.0.0.3", "timeout"),
            _Outcome("9.9.9.9", "ok"),
        ],
        False,
    )
    assert written == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]  # not the address outside the fleet
    assert [(d.want_run, d.status, d.asleep) for d in devs.values()] == [
        (False, "ok", True),
        (False, "ignored", False),
        (False, "timeout", False),
    ]
    assert group_counts(devs.values(), 2) == [
        {"miners": 3, "running": 0, "asleep": 1, "non_compliant": 1, "unreachable": 1},
        {"miners": 0, "running": 0, "asleep": 0, "non_compliant": 0, "unreachable": 0},
    ]


def test_group_power_estimate_counts_unverified_devices_at_full_power():
    # group 0 (10 MW running, 0.1 asleep): 2 running + 1 non-compliant + 1 unreachable at full
    # power, 3 asleep: 4 x 10 + 3 x 0.1 = 40.3 MW; group 1 (6 / 0.05): 5 asleep = 0.25 MW
    counts = [
        {"miners": 7, "running": 2, "asleep": 3, "non_compliant": 1, "unreachable": 1},
        {"miners": 5, "running": 0, "asleep": 5, "non_compliant": 0, "unreachable": 0},
    ]
    assert group_power_estimate_mw(counts, RUN_MW, SLEEP_MW) == pytest.approx([40.3, 0.25])


def test_planned_miner_power_counts_never_commanded_as_running():
    # group 0: one wanted running (10), one asleep (0.1), one never commanded (10) = 20.1 MW;
    # group 1: one asleep = 0.05 MW
    devices = [_dev(1, 0, True), _dev(2, 0, False), _dev(3, 0, None, "unknown"), _dev(1, 1, False)]
    assert planned_miner_mw(devices, RUN_MW, SLEEP_MW) == pytest.approx(20.15)


# The per-device loops ``split_fleet`` and ``plan_commands`` were before they ran over numpy
# columns (issue 17: 10,000 devices per tick); the columns must give the same answer.
def _split_fleet_loop(devices, forced, run_mw, sleep_mw):
    controllable = np.zeros(len(run_mw), dtype=np.int64)
    fixed = np.zeros(len(run_mw), dtype=np.int64)
    fixed_running = np.zeros(len(run_mw), dtype=np.int64)
    to_sleep = []
    for d in devices:
        if d.group in forced:
            asleep = d.ok and d.want_run is False and d.asleep is not False
            if not asleep and d.status not in ("timeout", "refused", "unknown"):
                to_sleep.append(d.ip)
            fixed[d.group] += 1
            fixed_running[d.group] += not asleep
        elif d.ok:
            controllable[d.group] += 1
        else:
            fixed[d.group] += 1
            fixed_running[d.group] += not d.asleep
    fixed_mw = fixed_running * run_mw + (fixed - fixed_running) * sleep_mw
    return controllable, float(fixed_mw.sum()), to_sleep


def _plan_commands_loop(devices, running, forced):
    by_group = {}
    for d in devices:
        if d.ok and d.group not in forced:
            by_group.setdefault(d.group, []).append(d)
    to_sleep, to_wake = [], []
    for gi, devs in sorted(by_group.items()):
        devs.sort(key=lambda d: tuple(int(p) for p in d.ip.split(".")))
        on = [d.ip for d in devs if d.want_run]
        off = [d.ip for d in devs if not d.want_run]
        k = int(running[gi])
        if len(on) > k:
            to_sleep += on[k:][::-1]
        elif len(on) < k:
            to_wake += off[: k - len(on)]
    return to_sleep, to_wake


@st.composite
def mixed_fleets(draw):
    """Fleets in any order, every status, read-backs unknown/asleep/running, addresses that are
    dotted quads of bytes or not (an octet above 255, three parts, a leading zero)."""
    n = draw(st.integers(0, 40))
    wide = draw(st.booleans())
    devs = []
    for i in range(n):
        ip = (
            draw(st.sampled_from([f"10.0.{i // 7}.{i % 7}", f"10.{i}.300", f"10.0.0.0{i % 3}"]))
            if wide
            else f"10.{draw(st.integers(0, 2))}.{draw(st.integers(0, 255))}.{i}"
        )
        devs.append(
            Device(
                ip,
                draw(st.integers(0, 2)),
                draw(st.sampled_from([None, True, False])),
                draw(st.sampled_from(["ok", "ok", "ignored", "error", "timeout", "refused", "unknown"])),
                draw(st.sampled_from([None, True, False])),
            )
        )
    return devs, draw(st.sets(st.integers(0, 2)))


@given(mixed_fleets(), st.lists(st.integers(0, 40), min_size=3, max_size=3))
def test_columns_match_the_per_device_loops(fleet, target):
    devs, forced = fleet
    table = FleetTable(devs)
    run_mw, sleep_mw = np.array([10.0, 6.0, 3.3]), np.array([0.1, 0.05, 0.02])
    c, f, s = split_fleet(table, forced, run_mw, sleep_mw)
    c0, f0, s0 = _split_fleet_loop(devs, forced, run_mw, sleep_mw)
    assert (c.tolist(), f, s) == (c0.tolist(), f0, s0)
    assert c.dtype == np.int64
    assert plan_commands(table, np.array(target), forced) == _plan_commands_loop(
        devs, np.array(target), forced
    )


def test_split_fleet_refuses_a_group_out_of_range():
    with pytest.raises(IndexError, match="group index"):
        split_fleet(FleetTable([_dev(1, 2, True)]), set(), RUN_MW, SLEEP_MW)


def test_split_fleet_and_plan_commands_take_a_fleet_table_not_records():
    devs = [_dev(1, 0, True)]
    with pytest.raises(TypeError, match="FleetTable"):
        split_fleet(devs, set(), RUN_MW, SLEEP_MW)
    with pytest.raises(TypeError, match="FleetTable"):
        plan_commands(devs, np.array([1, 0]), set())


# The columns are built once per fleet; whoever writes a record refreshes its rows
# (``FleetTable.refresh``, as ``live.commands`` does): after any writes the answers must still be
# the loops' answers. (The address is a record's identity and is never written:
# ``Device.addr_key`` is set once.)
_WRITES = st.one_of(
    st.tuples(
        st.just("status"), st.sampled_from(["ok", "ignored", "error", "timeout", "refused", "unknown"])
    ),
    st.tuples(st.just("want_run"), st.sampled_from([None, True, False])),
    st.tuples(st.just("asleep"), st.sampled_from([None, True, False])),
    st.tuples(st.just("group"), st.integers(0, 2)),
)


@given(
    mixed_fleets(),
    st.lists(st.tuples(st.integers(0, 39), _WRITES), max_size=30),
    st.lists(st.integers(0, 40), min_size=3, max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_columns_follow_writes_to_the_records(fleet, writes, target, view, in_block):
    devs, forced = fleet
    by_ip = {str(i): d for i, d in enumerate(devs)}
    table = FleetTable(by_ip.values() if view else devs)  # the runtime passes a view
    run_mw, sleep_mw = np.array([10.0, 6.0, 3.3]), np.array([0.1, 0.05, 0.02])
    running = np.array(target)
    for i, (name, value) in [(-1, ("", None)), *writes]:
        if devs and i >= 0:
            d = devs[i % len(devs)]
            if in_block:  # the writers' form: refreshed when the block ends
                with table.updating([d.ip]):
                    setattr(d, name, value)
            else:
                setattr(d, name, value)
                table.refresh([d.ip])
        assert table.stale_rows() == []
        c, f, s = split_fleet(table, forced, run_mw, sleep_mw)
        c0, f0, s0 = _split_fleet_loop(devs, forced, run_mw, sleep_mw)
        assert (c.tolist(), f, s) == (c0.tolist(), f0, s0)
        assert plan_commands(table, running, forced) == _plan_commands_loop(devs, running, forced)


def test_a_write_without_refresh_is_found_and_a_refresh_of_a_stranger_refused():
    devs = [_dev(1, 0, True), _dev(2, 0, True)]
    table = FleetTable(devs)
    devs[1].status = "timeout"
    assert table.stale_rows() == [1]
    assert split_fleet(table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [2, 0]  # not yet seen
    table.refresh(["10.0.0.2"])
    assert table.stale_rows() == []
    assert split_fleet(table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [1, 0]
    with pytest.raises(KeyError, match=r"'10\.0\.0\.9' is not a device of this fleet"):
        table.refresh(["10.0.0.9"])


def test_updating_refreshes_also_when_the_writes_raise():
    devs = [_dev(1, 0, True), _dev(2, 0, True)]
    table = FleetTable(devs)
    with pytest.raises(RuntimeError), table.updating(["10.0.0.1", "10.0.0.2"]):
        devs[0].status = "ignored"
        raise RuntimeError("a driver answer the writer did not expect")
    assert table.stale_rows() == []
    assert split_fleet(table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [1, 0]


def test_columns_are_of_the_records_passed_not_of_equal_ones():
    # a fleet rebuilt with equal records (a restart in the same process) gets its own columns
    old = [_dev(1, 0, True), _dev(2, 0, False)]
    new = [_dev(1, 0, True), _dev(2, 0, False)]
    assert old == new
    old_table, new_table = FleetTable(old), FleetTable(new)
    assert split_fleet(old_table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [2, 0]
    new[0].status = "timeout"  # only the new fleet's record
    new_table.refresh([new[0].ip])
    assert split_fleet(new_table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [1, 0]
    assert split_fleet(old_table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [2, 0]
    old[1].status = "ignored"  # a write to the old fleet does not touch the new one's columns
    old_table.refresh([old[1].ip])
    assert split_fleet(new_table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [1, 0]
    assert split_fleet(old_table, set(), RUN_MW, SLEEP_MW)[0].tolist() == [1, 0]


def test_a_copied_or_repeated_record_does_not_write_over_another_row():
    import copy

    devs = [_dev(1, 0, True), _dev(2, 0, True)]
    table = FleetTable(devs)
    assert plan_commands(table, np.array([1, 0]), set()) == (["10.0.0.2"], [])
    twin = copy.copy(devs[0])  # same address, is not in the fleet
    twin.want_run = False
    table.refresh([twin.ip])  # reads the fleet's own record, not the twin
    assert plan_commands(table, np.array([1, 0]), set()) == (["10.0.0.2"], [])
    both = FleetTable([devs[0], devs[1], devs[0]])  # one record listed twice counts twice, as the loop
    devs[0].status = "ignored"
    both.refresh([devs[0].ip])
    assert split_fleet(both, set(), RUN_MW, SLEEP_MW)[0].tolist() == [1, 0]
    devs[0].status = "ok"
    both.refresh([devs[0].ip])
    assert split_fleet(both, set(), RUN_MW, SLEEP_MW)[0].tolist() == [3, 0]
