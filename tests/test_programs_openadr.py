"""Our VEN against openleadr's own VTN (OpenADRServer) started here on 127.0.0.1: real HTTP,
real OpenADR 2.0b XML. Registration, events of three signal kinds, opt in/out by site policy,
price events judged per miner group against its breakeven, the caps handed to the controller,
telemetry reports arriving at the VTN (and none when the site cannot be read), and a VTN that
cannot be reached (closed port, unknown host, TLS failure) failing the command."""

import asyncio
import contextlib
import socket
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ballast.control import ControllerConfig, ControllerState, Snapshot, step
from ballast.models.miners import get_model
from ballast.programs.openadr.economics import SiteEconomics
from ballast.programs.openadr.ven import BallastVen, VenPolicy, cap_at, event_to_commands
from ballast.scenario import parse_scenario

MINER_MW = 50.0
SITE_MW = 180.0
HASHPRICE = 50.0  # USD/PH/day
# Two groups, pool fee 2 %, cooling PUE 1.05, deadband 5 USD/MWh (the scenario defaults). The
# breakeven at the meter, 1000 x hashprice / (24 x J/TH) x (1 - fee) / PUE (Luxor's hashprice
# definition): S19j Pro (30.5 J/TH) 63.8 USD/MWh, S21 (17.5 J/TH) 111.1 USD/MWh.
TWO_GROUPS = {
    "version": 1,
    "site": {"import_limit_mw": 300},
    "miners": [
        {"name": "s19jpro", "model": "Antminer S19j Pro", "count": 16_000},
        {"name": "s21", "model": "Antminer S21", "count": 15_000},
    ],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-01-01T00:00Z", "end": "2024-01-02T00:00Z"},
}


def breakeven_usd_per_mwh(model: str) -> float:
    """Written out here from the catalog's efficiency, not taken from the code under test."""
    return 1000.0 * HASHPRICE / (24.0 * get_model(model).efficiency_j_per_th) * 0.98 / 1.05


def asleep_mw(model: str, count: int) -> float:
    return count * get_model(model).sleep_power_w / 1e6


def hashing_mw(model: str, count: int) -> float:
    return count * get_model(model).power_w * 1.05 / 1e6  # wall power x cooling PUE


S19J, S21 = "Antminer S19j Pro", "Antminer S21"
BETWEEN_USD_PER_MWH = 80.0  # above the S19j Pro's breakeven + deadband, below the S21's
assert breakeven_usd_per_mwh(S19J) + 5 < BETWEEN_USD_PER_MWH < breakeven_usd_per_mwh(S21) - 5
ONLY_S19J_ASLEEP_MW = asleep_mw(S19J, 16_000) + hashing_mw(S21, 15_000)
ALL_ASLEEP_MW = asleep_mw(S19J, 16_000) + asleep_mw(S21, 15_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interval(start, minutes, payload):
    return [{"dtstart": start, "duration": timedelta(minutes=minutes), "signal_payload": payload}]


# (signal_name, signal_type, payload, starts_in, expected opt, expected cap [MW])
CASES = [
    ("simple", "level", 2, timedelta(minutes=5), "optIn", 0.0),  # level 2: all off
    ("simple", "level", 1, timedelta(minutes=6), "optIn", MINER_MW * 0.5),
    # 250 USD/MWh: above both groups' breakevens, every miner asleep
    ("ELECTRICITY_PRICE", "price", 0.25, timedelta(minutes=7), "optIn", ALL_ASLEEP_MW),
    ("ELECTRICITY_PRICE", "price", 0.03, timedelta(minutes=8), "optIn", np.inf),  # 30 USD/MWh
    ("LOAD_DISPATCH", "delta", -5000, timedelta(minutes=9), "optIn", MINER_MW - 5.0),  # -5,000 kW
    # campus import at most 150,000 kW: 30 MW below the 180 MW metered, miners 50 -> 20 MW
    ("LOAD_DISPATCH", "setpoint", 150_000, timedelta(minutes=10), "optIn", 20.0),
    ("LOAD_DISPATCH", "multiplier", 0.5, timedelta(minutes=11), "optOut", None),  # not offered
    ("simple", "level", 1, timedelta(seconds=5), "optOut", None),  # notice < 60 s
    # 80 USD/MWh (payload in USD/kWh): the S19j Pros sleep, the S21s keep hashing
    (
        "ELECTRICITY_PRICE",
        "price",
        BETWEEN_USD_PER_MWH / 1000,
        timedelta(minutes=12),
        "optIn",
        ONLY_S19J_ASLEEP_MW,
    ),
]


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_ven_against_openleadr_vtn():
    from openleadr import OpenADRServer

    port = free_port()
    loop = asyncio.get_running_loop()
    registered = loop.create_future()
    reports: list[tuple[str, float]] = []
    got_reports = asyncio.Event()
    answers: dict[str, asyncio.Future] = {}

    def on_create_party_registration(info):
        if not registered.done():
            registered.set_result(info["ven_name"])
        return "ven-ballast", "reg-1"

    async def on_register_report(
        ven_id, resource_id, measurement, unit, scale, min_sampling_interval, max_sampling_interval
    ):
        async def receive(data):
            reports.extend((resource_id, value) for _, value in data)
            if {r for r, _ in reports} >= {"site", "miners"}:
                got_reports.set()

        return receive, min_sampling_interval

    server = OpenADRServer(
        vtn_id="BALLAST-TEST-VTN",
        http_host="127.0.0.1",
        http_port=port,
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        ven_lookup=lambda ven_id: {
            "ven_id": ven_id,
            "ven_name": "campus",
            "fingerprint": None,
            "registration_id": "reg-1",
        },
    )
    server.add_handler("on_create_party_registration", on_create_party_registration)
    server.add_handler("on_register_report", on_register_report)
    await server.run_async()
    received = []
    cfg = ControllerConfig.from_scenario(parse_scenario(TWO_GROUPS))
    ven = BallastVen(
        "campus",
        f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
        VenPolicy(min_notice_s=60),
        telemetry=lambda: {"site_import_mw": SITE_MW, "miner_mw": MINER_MW},
        on_command=received.append,
        report_period_s=1,
        groups=cfg.groups,
        hashprice_usd_per_ph_day=HASHPRICE,
    )
    cancelled = asyncio.Event()
    ven.on_decision = lambda d: cancelled.set() if d.reason == "cancelled by the VTN" else None
    try:
        await ven.start()
        assert await asyncio.wait_for(registered, 20) == "campus"
        now = datetime.now(UTC)
        ids = []
        for name, kind, payload, starts_in, _, _ in CASES:
            fut = loop.create_future()

            def done(ven_id, event_id, opt_type, fut=fut):
                fut.set_result(opt_type)

            eid = server.add_event(
                "ven-ballast", name, kind, interval(now + starts_in, 30, payload), callback=done
            )
            answers[eid] = fut
            ids.append(eid)
        opts = await asyncio.wait_for(asyncio.gather(*(answers[e] for e in ids)), 30)
        assert opts == [c[4] for c in CASES], [(d.opt, d.reason) for d in ven.decisions]
        for eid, (_, _, _, starts_in, _, cap) in zip(ids, CASES, strict=True):
            mine = [c for c in ven.commands if c.event_id == eid]
            if cap is None:
                assert not mine
                continue
            (cmd,) = mine
            assert cmd.cap_mw == pytest.approx(cap)
            assert cmd.start_utc == pytest.approx(now + starts_in, abs=timedelta(seconds=1))
            assert cmd.end_utc - cmd.start_utc == timedelta(minutes=30)
        assert len(received) == sum(c[5] is not None for c in CASES)
        # the price between the two breakevens: exactly the S19j Pros sleep, each says why
        (between,) = [c for c in ven.commands if c.event_id == ids[-1]]
        assert [(v.name, v.curtail) for v in between.groups] == [("s19jpro", True), ("s21", False)]
        assert "> breakeven" in between.groups[0].reason
        assert "<= breakeven" in between.groups[1].reason
        # the controller obeys the cap in force at 7:30 (level 2 and 250 USD/MWh: all off)
        during = now + timedelta(minutes=7, seconds=30)
        assert ven.cap_mw(during) == 0.0
        state = ControllerState.initial(cfg, during.timestamp())
        d = step(cfg, state, Snapshot(during.timestamp(), 20.0, 60.0, 130.0, cap_mw=ven.cap_mw(during)))
        assert d.running.sum() == 0 and d.binding_rule == "obligation_cap"
        # ... and during the 80 USD/MWh event alone, at a price where its own economics keep
        # every group on, the cap leaves room for all the S21s and none of the S19j Pros
        alone = now + timedelta(minutes=40, seconds=30)  # only the 12-42 price event
        assert ven.cap_mw(alone) == pytest.approx(ONLY_S19J_ASLEEP_MW)
        state = ControllerState.initial(cfg, alone.timestamp())
        d = step(cfg, state, Snapshot(alone.timestamp(), 20.0, HASHPRICE, 130.0, cap_mw=ven.cap_mw(alone)))
        assert d.running.tolist() == [0, 15_000]
        # the VTN cancels the high-price event: its cap goes, the others stay
        late = now + timedelta(minutes=36, seconds=30)  # price (7-37), deltas (9-39, 10-40)
        assert ven.cap_mw(late) == pytest.approx(ALL_ASLEEP_MW)
        server.cancel_event("ven-ballast", ids[2])
        await asyncio.wait_for(cancelled.wait(), 20)
        assert not [c for c in ven.commands if c.event_id == ids[2]]
        assert ven.cap_mw(late) == pytest.approx(20.0)  # the 150 MW import setpoint now binds
        # telemetry reached the VTN in OpenADR reports
        await asyncio.wait_for(got_reports.wait(), 20)
        assert ("site", SITE_MW) in reports and ("miners", MINER_MW) in reports
    finally:
        await ven.stop()
        await server.stop()


@pytest.mark.parametrize(
    ("status", "policy", "opt", "n"),
    [
        ("far", VenPolicy(), "optIn", 1),
        ("cancelled", VenPolicy(), "optIn", 0),
        ("far", VenPolicy(max_reduction_mw=20.0), "optOut", 0),  # asks import 80 - 52 = 28 MW
        ("far", VenPolicy(accept_signals=frozenset({"SIMPLE"})), "optOut", 0),
    ],
)
def test_event_conversion_without_a_server(status, policy, opt, n):
    now = datetime(2024, 8, 20, 21, 0, tzinfo=UTC)
    event = {
        "event_descriptor": {"event_id": "e1", "event_status": status},
        "active_period": {"dtstart": now + timedelta(hours=1)},
        "event_signals": [
            {
                "signal_name": "LOAD_DISPATCH",
                "signal_type": "setpoint",
                "measurement": {"unit": "W", "scale": "M"},
                "intervals": interval(now + timedelta(hours=1), 60, 52.0),
            }
        ],
    }
    # campus import 80 MW: AI 40 MW, miners 40 MW; import at most 52 MW -> miners at most 12
    decision = event_to_commands(event, policy, 40.0, now, import_mw_now=80.0)
    assert decision.opt == opt and len(decision.commands) == n
    if n:
        assert decision.commands[0].cap_mw == 12.0  # MW from the signal's own unit
        assert cap_at(list(decision.commands), now + timedelta(minutes=90)) == 12.0
        assert cap_at(list(decision.commands), now) == float("inf")


@pytest.mark.parametrize(("accepted_before", "opt"), [(False, "optOut"), (True, "optIn")])
def test_short_notice_declined_unless_an_update_of_an_accepted_event(accepted_before, opt):
    now = datetime(2024, 8, 20, 21, 0, tzinfo=UTC)
    start = now - timedelta(minutes=5)  # already running
    event = {
        "event_descriptor": {"event_id": "e2", "event_status": "active"},
        "active_period": {"dtstart": start},
        "event_signals": [
            {"signal_name": "SIMPLE", "signal_type": "level", "intervals": interval(start, 60, 1)}
        ],
    }
    decision = event_to_commands(
        event, VenPolicy(min_notice_s=600), 40.0, now, accepted_before=accepted_before, import_mw_now=100.0
    )
    assert decision.opt == opt


def _cert(cn, issuer=None, ca=False, san=()):
    """A throw-away RSA certificate (signed by ``issuer`` = (cert, key), else self-signed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _write(folder, name, cert, key):
    from cryptography.hazmat.primitives import serialization

    crt, pem = folder / f"{name}.crt", folder / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return str(crt), str(pem)


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_ven_over_mutual_tls_with_signed_messages(tmp_path):
    """As production VTNs run: HTTPS with client certificates, XML signatures checked by
    certificate fingerprint on both sides."""
    import ipaddress

    from cryptography import x509
    from openleadr import OpenADRServer
    from openleadr.utils import certificate_fingerprint

    ca = _cert("Ballast test CA", ca=True)
    ca_file, _ = _write(tmp_path, "ca", *ca)
    vtn_crt, vtn_key = _write(
        tmp_path,
        "vtn",
        *_cert(
            "localhost",
            ca,
            san=(x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
        ),
    )
    ven_crt, ven_key = _write(tmp_path, "ven", *_cert("campus", ca))
    ven_fp = certificate_fingerprint((tmp_path / "ven.crt").read_text())
    vtn_fp = certificate_fingerprint((tmp_path / "vtn.crt").read_text())
    port = free_port()
    loop = asyncio.get_running_loop()
    registered, answered = loop.create_future(), loop.create_future()

    def on_create_party_registration(info):
        if not registered.done():
            registered.set_result(info["fingerprint"])
        return "ven-tls", "reg-tls"

    server = OpenADRServer(
        vtn_id="BALLAST-TLS-VTN",
        http_host="127.0.0.1",
        http_port=port,
        cert=vtn_crt,
        key=vtn_key,
        http_cert=vtn_crt,
        http_key=vtn_key,
        http_ca_file=ca_file,
        show_fingerprint=False,
        requested_poll_freq=timedelta(seconds=1),
        ven_lookup=lambda ven_id: {
            "ven_id": ven_id,
            "ven_name": "campus",
            "fingerprint": ven_fp,
            "registration_id": "reg-tls",
        },
    )
    server.add_handler("on_create_party_registration", on_create_party_registration)
    await server.run_async()
    ven = BallastVen(
        "campus",
        f"https://localhost:{port}/OpenADR2/Simple/2.0b",
        VenPolicy(),
        telemetry=lambda: {"site_import_mw": SITE_MW, "miner_mw": MINER_MW},
        cert=ven_crt,
        key=ven_key,
        ca_file=ca_file,
        vtn_fingerprint=vtn_fp,
    )
    try:
        await ven.start()
        assert await asyncio.wait_for(registered, 20) == ven_fp  # the VTN saw our certificate
        now = datetime.now(UTC)
        server.add_event(
            "ven-tls",
            "simple",
            "level",
            interval(now + timedelta(minutes=5), 15, 3),
            callback=lambda ven_id, event_id, opt_type: answered.set_result(opt_type),
        )
        assert await asyncio.wait_for(answered, 20) == "optIn"
        (cmd,) = ven.commands
        assert cmd.cap_mw == 0.0 and cmd.signal == "SIMPLE/level"
    finally:
        await ven.stop()
        await server.stop()


@contextlib.contextmanager
def vtn_in_thread(port: int, registration, event=None, **tls):
    """openleadr's VTN on 127.0.0.1:port in its own thread and event loop (the CLI runs its own
    loop); ``registration`` answers registrations, ``event`` (signal args) is queued for ven-cli;
    ``tls``: OpenADRServer's certificate arguments."""
    import threading

    from openleadr import OpenADRServer

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    server = {}

    def serve():
        asyncio.set_event_loop(loop)
        vtn = OpenADRServer(
            vtn_id="CLI-VTN",
            http_host="127.0.0.1",
            http_port=port,
            requested_poll_freq=timedelta(seconds=1),
            show_fingerprint=False,
            ven_lookup=lambda ven_id: {
                "ven_id": ven_id,
                "ven_name": "cli",
                "fingerprint": None,
                "registration_id": "reg-cli",
            },
            **tls,
        )
        vtn.add_handler("on_create_party_registration", registration)
        if event is not None:
            vtn.add_event("ven-cli", *event)
        server["vtn"] = vtn
        loop.run_until_complete(vtn.run_async())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(20)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(server["vtn"].stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
def test_ven_cli_link_check_against_a_vtn():
    """`ballast programs ven` as an engineer runs it, against openleadr's VTN (own thread)."""
    import json

    from typer.testing import CliRunner

    from ballast.cli import app

    port = free_port()
    event = ("LOAD_DISPATCH", "delta", interval(datetime.now(UTC) + timedelta(minutes=10), 20, -3000))
    with vtn_in_thread(port, lambda info: ("ven-cli", "reg-cli"), event):
        result = CliRunner().invoke(
            app,
            [
                "programs",
                "ven",
                "--vtn-url",
                f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
                "--ven-name",
                "cli",
                "--test-miner-mw",
                "40",
                "--test-site-import-mw",
                "100",
                "--events",
                "1",
                "--seconds",
                "30",
            ],
        )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert line["opt"] == "optIn"
    assert line["commands"][0]["cap_mw"] == pytest.approx(37.0)  # 40 MW - 3,000 kW


@pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey instances for keys")
def test_ven_cli_judges_a_price_event_per_group(tmp_path):
    """`--scenario` and `--hashprice-usd-per-ph-day`: a price between the two groups'
    breakevens puts exactly the less efficient group to sleep; the JSON line says why."""
    import json

    import yaml
    from typer.testing import CliRunner

    from ballast.cli import app

    path = tmp_path / "two_groups.yaml"
    path.write_text(yaml.safe_dump(TWO_GROUPS))
    port = free_port()
    event = (
        "ELECTRICITY_PRICE",
        "price",
        interval(datetime.now(UTC) + timedelta(minutes=10), 20, BETWEEN_USD_PER_MWH / 1000),
    )
    with vtn_in_thread(port, lambda info: ("ven-cli", "reg-cli"), event):
        result = CliRunner().invoke(
            app,
            [
                "programs",
                "ven",
                "--vtn-url",
                f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
                "--ven-name",
                "cli",
                "--scenario",
                str(path),
                "--hashprice-usd-per-ph-day",
                str(HASHPRICE),
                "--test-miner-mw",
                "100",
                "--test-site-import-mw",
                "200",
                "--events",
                "1",
                "--seconds",
                "30",
            ],
        )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert line["opt"] == "optIn"
    (cmd,) = line["commands"]
    assert cmd["cap_mw"] == pytest.approx(ONLY_S19J_ASLEEP_MW)
    assert [(g["group"], g["curtail"]) for g in cmd["groups"]] == [("s19jpro", True), ("s21", False)]
    assert cmd["groups"][0]["breakeven_usd_per_mwh"] == pytest.approx(breakeven_usd_per_mwh(S19J), abs=1e-3)


def test_ven_cli_needs_a_site_or_test_values():
    from typer.testing import CliRunner

    from ballast.cli import app

    result = CliRunner().invoke(app, ["programs", "ven", "--vtn-url", "http://127.0.0.1:1/x"])
    assert result.exit_code == 2
    assert "give --site URL" in result.output
    result = CliRunner().invoke(
        app,
        [
            "programs",
            "ven",
            "--vtn-url",
            "http://127.0.0.1:1/x",
            "--site",
            "http://127.0.0.1:1",
            "--test-miner-mw",
            "1",
        ],
    )
    assert result.exit_code == 2 and "one or the other" in result.output


@pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey instances for keys")
def test_ven_cli_fails_when_the_vtn_refuses():
    """The VTN's registration handler returns False (openleadr's way to refuse a VEN)."""
    from typer.testing import CliRunner

    from ballast.cli import app

    port = free_port()
    with vtn_in_thread(port, lambda info: False):
        result = CliRunner().invoke(
            app,
            [
                "programs",
                "ven",
                "--vtn-url",
                f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
                "--ven-name",
                "stranger",
                "--test-miner-mw",
                "0",
                "--test-site-import-mw",
                "0",
                "--seconds",
                "30",
            ],
        )
    assert result.exit_code == 1, result.output
    assert "the VTN refused the registration" in _one_error_line(result.output)


def test_commands_replay_as_backtest_dr_events():
    """Events a VEN answered become scenario DR events that the backtest accepts."""
    from ballast.scenario import parse_scenario

    now = datetime(2024, 8, 20, 18, 0, tzinfo=UTC)
    start = now + timedelta(hours=2)
    event = {
        "event_descriptor": {"event_id": "e9", "event_status": "far"},
        "active_period": {"dtstart": start},
        "event_signals": [
            {
                "signal_name": "SIMPLE",
                "signal_type": "level",
                "intervals": interval(start, 60, 1) + interval(start + timedelta(hours=1), 60, 0),
            }
        ],
    }
    decision = event_to_commands(event, VenPolicy(), 40.0, now, import_mw_now=100.0)
    replay = [e for e in (c.to_dr_event() for c in decision.commands) if e is not None]
    assert replay == [
        {
            "name": "openadr:e9:SIMPLE/level",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "target_mw": 20.0,
            "notice_minutes": 120.0,
        }
    ]  # level 0 asks nothing: not replayed
    scn = parse_scenario(
        {
            "version": 1,
            "site": {"import_limit_mw": 300},
            "miners": [{"name": "a", "model": "Antminer S19j Pro", "count": 15_000}],
            "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
            "run": {"start": "2024-08-20T00:00Z", "end": "2024-08-21T00:00Z"},
            "programs": {"demand_response": {"events": replay}},
        }
    )
    assert scn.programs.demand_response.events[0].target_mw == 20.0


def _ven_cli(url: str, *extra: str):
    from typer.testing import CliRunner

    from ballast.cli import app

    return CliRunner().invoke(
        app,
        [
            "programs",
            "ven",
            "--vtn-url",
            url,
            "--test-miner-mw",
            "0",
            "--test-site-import-mw",
            "0",
            "--seconds",
            "20",
            *extra,
        ],
    )


def _one_error_line(output: str) -> str:
    lines = [x for x in output.splitlines() if x.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_ven_cli_fails_when_no_vtn_answers():
    """Nothing listens on the port (connection refused): exit 1 with one error line."""
    port = free_port()  # bound and released: connection refused
    result = _ven_cli(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b")
    assert result.exit_code == 1, result.output
    assert "Cannot connect to host 127.0.0.1" in _one_error_line(result.output)


def test_ven_cli_fails_when_the_vtn_host_does_not_resolve():
    """``.invalid`` never resolves (RFC 2606): a DNS failure exits 1 with one line."""
    result = _ven_cli("http://vtn.invalid:8080/OpenADR2/Simple/2.0b")
    assert result.exit_code == 1, result.output
    assert "vtn.invalid" in _one_error_line(result.output)


@pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey instances for keys")
def test_ven_cli_fails_when_the_vtn_certificate_is_not_trusted(tmp_path):
    """A TLS VTN whose certificate no CA the VEN trusts signed: exit 1 with one line."""
    import ipaddress

    from cryptography import x509

    ca = _cert("Ballast test CA", ca=True)
    ca_file, _ = _write(tmp_path, "ca", *ca)
    crt, key = _write(
        tmp_path,
        "vtn",
        *_cert(
            "localhost",
            ca,
            san=(x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
        ),
    )
    port = free_port()
    with vtn_in_thread(
        port, lambda info: ("ven-cli", "reg-cli"), http_cert=crt, http_key=key, http_ca_file=ca_file
    ):
        result = _ven_cli(f"https://127.0.0.1:{port}/OpenADR2/Simple/2.0b")
    assert result.exit_code == 1, result.output
    assert "certificate verify failed" in _one_error_line(result.output)


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_ven_raises_when_the_vtn_refuses_registration():
    """openleadr's VTN answers the registration with a refusal (its handler returns False)."""
    from openleadr import OpenADRServer

    from ballast.programs.openadr.ven import VenRegistrationError

    port = free_port()
    asked = []
    server = OpenADRServer(
        vtn_id="REFUSING-VTN", http_host="127.0.0.1", http_port=port, show_fingerprint=False
    )
    server.add_handler("on_create_party_registration", lambda info: asked.append(info) or False)
    await server.run_async()
    ven = BallastVen(
        "stranger",
        f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
        VenPolicy(),
        telemetry=lambda: {"site_import_mw": 0.0, "miner_mw": 0.0},
    )
    try:
        with pytest.raises(VenRegistrationError, match="refused the registration"):
            await asyncio.wait_for(ven.start(), 30)
        assert [a["ven_name"] for a in asked] == ["stranger"]
    finally:
        await ven.stop()
        await server.stop()


@pytest.mark.parametrize(
    ("price_usd_per_mwh", "policy", "opt", "cap_mw", "asleep"),
    [
        (BETWEEN_USD_PER_MWH, VenPolicy(), "optIn", ONLY_S19J_ASLEEP_MW, [True, False]),
        (30.0, VenPolicy(), "optIn", float("inf"), [False, False]),  # below both: no cap
        # the explicit override: every miner off at or above its price, whatever the breakevens
        (BETWEEN_USD_PER_MWH, VenPolicy(price_all_off_override_usd_per_mwh=75.0), "optIn", 0.0, [True, True]),
        (
            70.0,
            VenPolicy(price_all_off_override_usd_per_mwh=75.0),
            "optIn",
            ONLY_S19J_ASLEEP_MW,
            [True, False],
        ),
        # the S19j Pros asleep ask 100 - 55.5 = 44.5 MW of the 100 MW of miners now: too much
        (BETWEEN_USD_PER_MWH, VenPolicy(max_reduction_mw=40.0), "optOut", None, None),
    ],
)
def test_price_event_without_a_server(price_usd_per_mwh, policy, opt, cap_mw, asleep):
    now = datetime(2024, 8, 20, 21, 0, tzinfo=UTC)
    start = now + timedelta(hours=1)
    event = {
        "event_descriptor": {"event_id": "p1", "event_status": "far"},
        "active_period": {"dtstart": start},
        "event_signals": [
            {
                "signal_name": "ELECTRICITY_PRICE",
                "signal_type": "price",
                "intervals": interval(start, 60, price_usd_per_mwh / 1000),
            }
        ],
    }
    economics = SiteEconomics.from_scenario(parse_scenario(TWO_GROUPS), HASHPRICE)
    decision = event_to_commands(event, policy, 100.0, now, import_mw_now=200.0, economics=economics)
    assert decision.opt == opt, decision.reason
    if cap_mw is not None:
        (cmd,) = decision.commands
        assert cmd.cap_mw == pytest.approx(cap_mw)
        # what the runtime is asked: the miner power now down to the cap
        asked = None if cap_mw == float("inf") else 100.0 - cap_mw
        assert (cmd.request and cmd.request.reduction_mw) == pytest.approx(asked)
        # a verdict per group, and why
        assert [(v.name, v.curtail) for v in cmd.groups] == list(zip(["s19jpro", "s21"], asleep, strict=True))
        assert all(("override" in v.reason) == (cap_mw == 0.0) for v in cmd.groups)


def test_price_event_declined_without_the_site_economics():
    """No groups or no hashprice: the VEN cannot judge a price, so it says no (no fixed
    threshold decides for it)."""
    now = datetime(2024, 8, 20, 21, 0, tzinfo=UTC)
    event = {
        "event_descriptor": {"event_id": "p2", "event_status": "far"},
        "active_period": {"dtstart": now + timedelta(hours=1)},
        "event_signals": [
            {
                "signal_name": "ELECTRICITY_PRICE",
                "signal_type": "price",
                "intervals": interval(now + timedelta(hours=1), 60, 1.0),
            }
        ],
    }
    decision = event_to_commands(event, VenPolicy(), 100.0, now, import_mw_now=200.0)
    assert decision.opt == "optOut" and "hashprice" in decision.reason


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_no_report_and_no_opt_in_when_the_site_cannot_be_read():
    """The VEN reads a site API that is not there (closed port): the VTN gets no report at
    all (no stale or invented value) and an event is declined, each logged."""
    from openleadr import OpenADRServer

    from ballast.programs.openadr.site import LiveSiteReader

    port = free_port()
    reports: list = []
    loop = asyncio.get_running_loop()
    answered = loop.create_future()

    async def on_register_report(
        ven_id, resource_id, measurement, unit, scale, min_sampling_interval, max_sampling_interval
    ):
        return reports.extend, min_sampling_interval

    server = OpenADRServer(
        vtn_id="NO-SITE-VTN",
        http_host="127.0.0.1",
        http_port=port,
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        ven_lookup=lambda ven_id: {
            "ven_id": ven_id,
            "ven_name": "campus",
            "fingerprint": None,
            "registration_id": "reg-ns",
        },
    )
    server.add_handler("on_create_party_registration", lambda info: ("ven-ns", "reg-ns"))
    server.add_handler("on_register_report", on_register_report)
    await server.run_async()
    reader = LiveSiteReader(f"http://127.0.0.1:{free_port()}", "viewer-token-0123")
    ven = BallastVen(
        "campus",
        f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
        VenPolicy(),
        telemetry=reader.read,
        report_period_s=1,
    )
    try:
        await ven.start()
        server.add_event(
            "ven-ns",
            "simple",
            "level",
            interval(datetime.now(UTC) + timedelta(minutes=5), 15, 1),
            callback=lambda ven_id, event_id, opt_type: answered.set_result(opt_type),
        )
        assert await asyncio.wait_for(answered, 20) == "optOut"
        assert "cannot be read" in ven.decisions[0].reason
        for _ in range(200):  # three samples at 1 s, 20 s at most
            if ven.reports_skipped >= 3:
                break
            await asyncio.sleep(0.1)
        assert ven.reports_skipped >= 3
        assert reports == []
        assert "ClientConnectorError" in reader.last_problem
    finally:
        await ven.stop()
        await server.stop()


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"health": {"ok": False, "reason": "ticks late"}}, "not healthy"),
        (
            {
                "safe_mode": True,
                "safe_mode_reason": "meter stale",
                "power_mw": {"import": 200.0},
                "health": {
                    "ok": True,
                    "safe_mode_reasons": ["watchdog"],
                    "last_tick_age_s": 0.1,
                    "meter_age_s": 4.0,
                },
            },
            "meter is stale",
        ),
        (
            {
                "power_mw": {"import": 200.0},
                "health": {"ok": True, "last_tick_age_s": 0.1, "meter_age_s": 30.0},
            },
            "30.0 s old",
        ),
        (
            {
                "power_mw": {"import": None, "miners": 50.0},
                "health": {"ok": True, "last_tick_age_s": 0.1, "meter_age_s": 0.2},
            },
            "no metered import",
        ),
    ],
)
def test_a_state_that_is_not_a_fresh_meter_reading_is_not_reported(doc, why):
    from ballast.programs.openadr.site import reading_from_state

    reading, reason = reading_from_state(doc, max_age_s=10.0)
    assert reading is None and why in reason


async def test_a_cancellation_is_honoured_when_the_site_cannot_be_read():
    """The VEN needs no site reading to drop a cancelled event's cap (the handler openleadr
    calls, driven directly)."""
    site = {"reading": {"site_import_mw": 100.0, "miner_mw": 40.0}}
    now = datetime(2024, 8, 20, 21, 0, tzinfo=UTC)
    ven = BallastVen(
        "campus",
        "http://127.0.0.1:9/unused",
        VenPolicy(),
        telemetry=lambda: site["reading"],
        clock=lambda: now,
    )
    start = now + timedelta(minutes=30)
    event = {
        "event_descriptor": {"event_id": "c1", "event_status": "far"},
        "active_period": {"dtstart": start},
        "event_signals": [
            {"signal_name": "SIMPLE", "signal_type": "level", "intervals": interval(start, 60, 2)}
        ],
    }
    assert await ven._on_event(event) == "optIn"
    assert ven.cap_mw(start + timedelta(minutes=1)) == 0.0
    site["reading"] = None  # the site goes dark; a new event cannot be sized ...
    other = {**event, "event_descriptor": {"event_id": "c2", "event_status": "far"}}
    assert await ven._on_event(other) == "optOut"
    # ... but the VTN's cancellation of the first still removes its cap
    event["event_descriptor"]["event_status"] = "cancelled"
    await ven._on_event(event)
    assert ven.commands == [] and ven.cap_mw(start + timedelta(minutes=1)) == float("inf")


def test_ven_cli_fails_when_the_vtn_never_answers():
    """A port that accepts connections and never answers (a listening socket nobody serves):
    the registration gives up after --register-timeout-s and exits 1 with one line."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        result = _ven_cli(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", "--register-timeout-s", "1")
    assert result.exit_code == 1, result.output
    assert "no registration within 1 s" in _one_error_line(result.output)


@pytest.mark.parametrize(("context", "deployment", "n"), [
    ("oadr://ercot/ecrs", "ecrs", 2),  # every interval of the instruction
    ("oadr://unknown.context", None, 2),  # the ordinary DR meaning of the signal
])
def test_a_reserve_market_context_is_a_deployment(context, deployment, n):
    now = datetime(2024, 8, 20, 21, 0, tzinfo=UTC)
    start = now + timedelta(minutes=5)
    event = {
        "event_descriptor": {"event_id": "e1", "event_status": "far", "market_context": context},
        "active_period": {"dtstart": start},
        "event_signals": [{"signal_name": "LOAD_DISPATCH", "signal_type": "delta",
                           "intervals": interval(start, 15, -20_000.0)
                           + interval(start + timedelta(minutes=15), 15, -20_000.0)}],
    }
    policy = VenPolicy(reserve_market_contexts={"oadr://ercot/ecrs": "ecrs"})
    decision = event_to_commands(event, policy, 40.0, now, import_mw_now=80.0)
    assert decision.opt == "optIn" and decision.deployment == deployment
    assert len(decision.commands) == n
    if deployment is not None:  # the MW sold are the reduction (live), not the payload
        assert all(c.request is None and c.cap_mw == np.inf for c in decision.commands)
        assert decision.commands[1].start_utc == start + timedelta(minutes=15)
    else:
        assert decision.commands[0].request.reduction_mw == pytest.approx(20.0)


def test_ven_cli_refuses_a_bad_reserve_context():
    from typer.testing import CliRunner

    from ballast.cli import app

    result = CliRunner().invoke(app, ["programs", "ven", "--vtn-url", "http://127.0.0.1:1/x",
                                      "--reserve-context", "oadr://x=foo"])
    assert result.exit_code == 2
    assert ("--reserve-context 'oadr://x=foo': give MARKET_CONTEXT=RESERVE with RESERVE one of "
            "responsive_reserve, ecrs, ers") in result.output
