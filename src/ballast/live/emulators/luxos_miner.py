"""One emulated LuxOS miner: its state, sessions, faults and the cgminer-style command replies.

Follows the LuxOS flavour of the cgminer API (Luxor firmware docs; see the project's protocol
note): STATUS blocks with codes, ``+``-joined read commands, one session at a time that expires
after ~60 s idle, privileged commands taking the session id as first parameter.
The reply for a request is computed by :meth:`EmulatedMiner.handle`; sockets live in
:mod:`ballast.live.emulators.luxos`.

``CONFIG[0]`` carries ``CurtailMode`` and ``IsPowerSupplyOn`` as a real LuxOS 2025.4 config
reply does (``"None"`` / ``true`` when mining); the emulator reports ``"Sleep"`` / ``false``
while curtailed (assumed spelling), so a driver can verify a curtail at once, before power has
ramped down. Behaviours that differ between releases and emulators (whether the curtail state
is reported; which commands ATM blocks, with which code and message) are
:class:`FirmwareQuirks`; ``command_counts`` counts every command received, so tests can prove
what a driver sent. Success codes and messages follow docs.luxor.tech (curtail 335, profileset
321, atm 339, atmset 340).
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ballast.live.emulators.catalog import MinerModel
from ballast.live.emulators.dynamics import Clock, MinerDynamics

LUXMINER_VERSION = "2024.11.1.212738-fd07e5b"
API_VERSION = "3.7"
SESSION_IDLE_TIMEOUT_S = 60.0  # LuxOS sessions expire after ~60 s idle (docs/sources.md#luxos-api)

READ_COMMANDS = frozenset(
    {
        "version",
        "summary",
        "stats",
        "power",
        "config",
        "profiles",
        "fans",
        "tempctrl",
        "pools",
        "groups",
        "atm",
        "devdetails",
        "devs",
        "session",
        "voltageget",
        "frequencyget",
        "temps",
    }
)
PRIVILEGED_COMMANDS = frozenset(
    {
        "curtail",
        "profileset",
        "atmset",
        "reboot",
        "rebootdevice",
        "resetminer",
        "ledset",
        "fanset",
        "frequencyset",
        "voltageset",
    }
)


@dataclass
class MinerFaults:
    """Faults injected into one miner; all off by default."""

    delay_s: float = 0.0  # reply this much later (wall clock) [s]
    refuse: bool = False  # close the listener: connections are refused
    ignore_commands: bool = False  # privileged commands answer OK but change nothing
    power_bias_w: float = 0.0  # added to the reported ``POWER[0].Watts`` [W]
    lose_privileged_replies: bool = False  # privileged commands act, their replies never come


@dataclass
class FirmwareQuirks:
    """Firmware behaviour that varies by release (and between emulators); defaults as before.

    Luxor documents no code or message for a command refused because ATM is on (pyasic only
    says ATM must be off to change profile); 338 is this emulator's, another LuxOS emulator
    answers 341. Tests vary both to prove a driver relies on neither.
    """

    atm_blocks: frozenset[str] = frozenset({"profileset"})  # refused while ATM is enabled
    atm_refusal_code: int = 338
    atm_refusal_msg: str = "Cannot change profile while ATM is enabled"
    reports_curtail_state: bool = True  # CONFIG carries CurtailMode and IsPowerSupplyOn


@dataclass
class TrueState:
    """Ground truth of an emulated miner, for tests and the emulated site."""

    ip: str
    model: str
    asleep: bool
    profile: str
    power_w: float
    hashrate_th_s: float
    reachable: bool
    session_active: bool


def _status(code: int, msg: str, kind: str = "S") -> list[dict[str, Any]]:
    return [
        {
            "STATUS": kind,
            "When": int(time.time()),
            "Code": code,
            "Msg": msg,
            "Description": f"LUXminer {LUXMINER_VERSION}",
        }
    ]


@functools.lru_cache(maxsize=256)
def _status_json_at(code: int, msg: str, when_s: int) -> str:
    status = _status(code, msg)
    status[0]["When"] = when_s
    return json.dumps(status)


def _status_json(code: int, msg: str) -> str:
    """:func:`_status` (success) as JSON text; the same text for a second's replies, so
    encoded once per second and code."""
    return _status_json_at(code, msg, int(time.time()))


def _ok(code: int, msg: str, key: str | None = None, body: list | None = None) -> dict:
    reply: dict[str, Any] = {"STATUS": _status(code, msg)}
    if key is not None:
        reply[key] = body if body is not None else []
    reply["id"] = 1
    return reply


def _err(code: int, msg: str) -> dict:
    return {"STATUS": _status(code, msg, "E"), "id": 1}


@dataclass
class EmulatedMiner:
    """State and command handling for one emulated miner."""

    ip: str
    model: MinerModel
    clock: Clock
    faults: MinerFaults = field(default_factory=MinerFaults)
    quirks: FirmwareQuirks = field(default_factory=FirmwareQuirks)
    on_reboot: Callable[[EmulatedMiner], None] | None = None

    def __post_init__(self) -> None:
        self.dynamics = MinerDynamics(self.model, self.clock)
        self.boot_s = self.clock()
        octets = [int(x) for x in self.ip.split(".")]
        self.mac = "02:42:" + ":".join(f"{o:02X}" for o in octets)
        self.hostname = "emu-" + "-".join(str(o) for o in octets[1:])
        self.serial = "EMU" + "".join(f"{o:03d}" for o in octets[1:])
        names = [p.name for p in self.model.profiles]
        self._profile_steps = {n: i - names.index("default") for i, n in enumerate(names)}
        self._config_fixed = self._fixed_config()
        self._config_fixed_json = json.dumps(self._config_fixed)[1:-1]  # encoded once
        self.session_id = ""
        self.session_used_s = 0.0
        self.atm_enabled = True
        self.red_led = "off"
        self.reachable = True
        self.requests = 0
        # (command, arguments without the session id) -> times received
        self.command_counts: Counter[tuple[str, str]] = Counter()

    # ------------------------------------------------------------------ state
    def true_state(self) -> TrueState:
        return TrueState(
            ip=self.ip,
            model=self.model.key,
            asleep=self.dynamics.asleep,
            profile=self.dynamics.profile.name,
            power_w=self.dynamics.power_w(),
            hashrate_th_s=self.dynamics.hashrate_th_s(),
            reachable=self.reachable,
            session_active=self._session_active(),
        )

    def _session_active(self) -> bool:
        if not self.session_id:
            return False
        if self.clock() - self.session_used_s > SESSION_IDLE_TIMEOUT_S:
            self.session_id = ""
            return False
        return True

    def expire_session(self) -> None:
        """Fault: drop the active session as if it had idled out."""
        self.session_id = ""

    # --------------------------------------------------------------- requests
    def handle(self, raw: bytes) -> bytes:
        """Reply bytes for one raw request (one JSON object, optional trailing NUL)."""
        try:
            req = json.loads(raw.rstrip(b"\x00 \r\n").decode("utf-8"))
        except ValueError:
            return json.dumps(_err(23, "Invalid JSON")).encode()
        return self.handle_request(req)

    def handle_request(self, req: object) -> bytes:
        """Reply bytes for one decoded request object."""
        self.requests += 1
        try:
            command = req["command"]  # type: ignore[index]
            if not isinstance(command, str):
                raise TypeError("command must be a string")
            parameter = str(req.get("parameter", "") or "")  # type: ignore[attr-defined]
        except (KeyError, TypeError, AttributeError):
            return json.dumps(_err(23, 'Invalid request: expected {"command": ...}')).encode()
        args = parameter.partition(",")[2] if command in PRIVILEGED_COMMANDS else parameter
        self.command_counts[(command, args.strip())] += 1
        if "+" in command:
            parts = command.split("+")
            for name in parts:
                if name not in READ_COMMANDS or name == "session":
                    return json.dumps(_err(45, f"Invalid multi-command '{name}'")).encode()
            # {"config":[{...}],"power":[{...}],...,"id":1}, each part encoded on its own
            body = ",".join(f'"{name}":[{self._encoded(name, "")}]' for name in parts)
            return ("{" + body + ',"id":1}').encode()
        return self._encoded(command, parameter).encode()

    def _encoded(self, name: str, parameter: str) -> str:
        """:meth:`command`'s reply as JSON text. ``config``, the bulk of every read-back, has
        its fixed fields encoded once per miner (the same JSON, a fraction of the cost)."""
        if name == "config":
            status = _status_json(33, "CGMiner config")
            dynamic = json.dumps(self._config_dynamic())[1:]  # '"Profile": ..., ...}'
            return f'{{"STATUS":{status},"CONFIG":[{{{self._config_fixed_json},{dynamic}],"id":1}}'
        return json.dumps(self.command(name, parameter))

    def command(self, name: str, parameter: str) -> dict:
        """Reply dict for one command."""
        if name in PRIVILEGED_COMMANDS:
            return self._privileged(name, parameter)
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return _err(14, "Invalid command")
        return handler(parameter)

    # ----------------------------------------------------------- read replies
    def _elapsed_s(self) -> int:
        return int(self.clock() - self.boot_s)

    def _cmd_version(self, _: str) -> dict:
        return _ok(
            22,
            "LUXminer versions",
            "VERSION",
            [
                {
                    "API": API_VERSION,
                    "LUXminer": LUXMINER_VERSION,
                    "Miner": LUXMINER_VERSION,
                    "CompileTime": "Thu Nov 14 21:27:38 UTC 2024",
                    "Type": self.model.type_name,
                }
            ],
        )

    def _cmd_summary(self, _: str) -> dict:
        ghs = self.dynamics.hashrate_th_s() * 1000.0
        return _ok(
            11,
            "Summary",
            "SUMMARY",
            [
                {
                    "Elapsed": self._elapsed_s(),
                    "GHS 5s": round(ghs, 2),
                    "GHS av": round(ghs, 2),
                    "GHS 30m": round(ghs, 2),
                    "Accepted": self._elapsed_s() // 10,
                    "Rejected": 0,
                    "Hardware Errors": 0,
                    "Best Share": 0,
                }
            ],
        )

    def _board_rates_ghs(self) -> list[float]:
        total_ghs = self.dynamics.hashrate_th_s() * 1000.0
        return [total_ghs / self.model.boards] * self.model.boards

    def _cmd_stats(self, _: str) -> dict:
        rates = self._board_rates_ghs()
        hot = 0 if self.dynamics.asleep else 1
        chip_t, pcb_t = (45 + 25 * hot, 40 + 20 * hot)
        board: dict[str, Any] = {
            "STATS": 0,
            "ID": "BC50",
            "Elapsed": self._elapsed_s(),
            "total_rateideal": round(self.dynamics.profile.hashrate_th_s * 1000.0, 2),
            "rate_unit": "GH",
            "total_rate": round(sum(rates), 2),
            "GHS 5s": round(sum(rates), 2),
            "GHS av": round(sum(rates), 2),
            "miner_count": self.model.boards,
            "fan_num": self.model.fans,
        }
        for i in range(1, 4):
            present = i <= self.model.boards
            board[f"chain_rate{i}"] = f"{rates[i - 1]:.2f}" if present else ""
            board[f"chain_acn{i}"] = self.model.chips_per_board if present else 0
            board[f"temp_chip{i}"] = "-".join([str(chip_t)] * 4) if present else "0-0-0-0"
            board[f"temp_pcb{i}"] = "-".join([str(pcb_t)] * 4) if present else "0-0-0-0"
        for i, rpm in enumerate(self._fan_rpms(), start=1):
            board[f"fan{i}"] = rpm
        info = {
            "BMMiner": LUXMINER_VERSION,
            "Miner": LUXMINER_VERSION,
            "CompileTime": "Thu Nov 14 21:27:38 UTC 2024",
            "Type": self.model.type_name,
        }
        return _ok(70, "CGMiner stats", "STATS", [info, board])

    def _cmd_power(self, _: str) -> dict:
        watts = max(0.0, self.dynamics.power_w() + self.faults.power_bias_w)
        return _ok(320, "Power", "POWER", [{"Watts": round(watts), "PSU": True}])

    def _cmd_config(self, _: str) -> dict:
        return _ok(33, "CGMiner config", "CONFIG", [{**self._config_fixed, **self._config_dynamic()}])

    def _fixed_config(self) -> dict[str, Any]:
        """The ``CONFIG[0]`` fields that never change on this miner."""
        return {
            "ASC Count": self.model.boards,
            "PGA Count": 0,
            "Pool Count": 1,
            "Strategy": "Failover",
            "Log Interval": 5,
            "Device Code": "",
            "OS": "Linux",
            "Hotplug": "None",
            "MACAddr": self.mac,
            "Model": self.model.type_name,
            "Hostname": self.hostname,
            "SerialNumber": self.serial,
            "ControlBoardType": "cvitek",
            "NameplateTHS": self.model.hashrate_th_s,
            "SystemStatus": "Normal",
        }

    def _config_dynamic(self) -> dict[str, Any]:
        """The ``CONFIG[0]`` fields that follow the miner's state."""
        state: dict[str, Any] = {
            "Profile": self.dynamics.profile.name,
            "RedLed": self.red_led,
            "IsAtmEnabled": self.atm_enabled,
            "ProfileStep": str(self._profile_step()),
        }
        if self.quirks.reports_curtail_state:  # an older release reports no curtail state
            state["CurtailMode"] = "Sleep" if self.dynamics.asleep else "None"
            state["IsPowerSupplyOn"] = not self.dynamics.asleep
        return state

    def _profile_step(self) -> int:
        return self._profile_steps[self.dynamics.profile.name]

    def _cmd_profiles(self, _: str) -> dict:
        default_index = [p.name for p in self.model.profiles].index("default")
        rows = [
            {
                "Profile Name": p.name,
                "Frequency": p.frequency_mhz,
                "Voltage": p.voltage_v,
                "Watts": round(p.power_w),
                "Hashrate": p.hashrate_th_s,
                "Step": str(i - default_index),
                "IsDynamic": False,
                "IsTuned": False,
            }
            for i, p in enumerate(self.model.profiles)
        ]
        return _ok(327, "Profiles", "PROFILES", rows)

    def _fan_rpms(self) -> list[int]:
        return [0 if self.dynamics.asleep else 4200 + 60 * i for i in range(self.model.fans)]

    def _cmd_fans(self, _: str) -> dict:
        rows = [
            {"FAN": i, "ID": i, "RPM": rpm, "Speed": 0 if rpm == 0 else 70}
            for i, rpm in enumerate(self._fan_rpms())
        ]
        reply = _ok(202, f"{len(rows)} Fan(s)", "FANS", rows)
        reply["FANCTRL"] = [{"Mode": "Auto", "MinFans": 1, "PowerOffSpeed": 0}]
        return reply

    def _cmd_tempctrl(self, _: str) -> dict:
        return _ok(
            200,
            "Temperature control",
            "TEMPCTRL",
            [{"Mode": "Auto", "Target": 75, "Hot": 95, "Dangerous": 105}],
        )

    def _cmd_temps(self, _: str) -> dict:
        rows = [{"TEMPS": i, "ID": i, "Board": 70.0, "Chip": 70.0} for i in range(self.model.boards)]
        return _ok(201, f"{len(rows)} Temp(s)", "TEMPS", rows)

    def _cmd_pools(self, _: str) -> dict:
        pool = {
            "POOL": 0,
            "GROUP": 0,
            "URL": "stratum+tcp://pool.invalid:3333",
            "User": "ballast.emulated",
            "Status": "Alive",
            "Stratum Active": True,
            "Accepted": self._elapsed_s() // 10,
            "Rejected": 0,
            "Get Failures": 0,
            "Remote Failures": 0,
            "Priority": 0,
            "Quota": 1,
        }
        return _ok(7, "1 Pool(s)", "POOLS", [pool])

    def _cmd_groups(self, _: str) -> dict:
        return _ok(7, "1 Group(s)", "GROUPS", [{"GROUP": 0, "Name": "Default", "Quota": 1}])

    def _cmd_atm(self, _: str) -> dict:
        return _ok(
            339,
            "ATM configuration values",
            "ATM",
            [
                {
                    "Enabled": self.atm_enabled,
                    "StartupMinutes": 15,
                    "PostRampMinutes": 15,
                    "TempWindow": 10,
                    "MinProfile": "",
                    "MaxProfile": "",
                }
            ],
        )

    def _cmd_devdetails(self, _: str) -> dict:
        rows = [
            {
                "DEVDETAILS": i,
                "Name": "BC50",
                "ID": i,
                "Driver": "bitmicro",
                "Kernel": "",
                "Model": self.model.type_name,
                "Device Path": "",
            }
            for i in range(self.model.boards)
        ]
        return _ok(69, "Device Details", "DEVDETAILS", rows)

    def _cmd_devs(self, _: str) -> dict:
        rates = self._board_rates_ghs()
        rows = [
            {
                "ASC": i,
                "Name": "BC50",
                "ID": i,
                "Enabled": "Y",
                "Status": "Dead" if self.dynamics.asleep else "Alive",
                "GHS 5s": r,
            }
            for i, r in enumerate(rates)
        ]
        return _ok(9, f"{len(rows)} ASC(s)", "DEVS", rows)

    def _cmd_voltageget(self, _: str) -> dict:
        v = 0.0 if self.dynamics.asleep else self.dynamics.profile.voltage_v
        rows = [{"Board": i, "Voltage": v} for i in range(self.model.boards)]
        return _ok(336, "Voltage", "VOLTAGE", rows)

    def _cmd_frequencyget(self, _: str) -> dict:
        f = self.dynamics.profile.frequency_mhz
        rows = [{"Board": i, "Frequency": f} for i in range(self.model.boards)]
        return _ok(333, "Frequency", "FREQUENCY", rows)

    # --------------------------------------------------------------- sessions
    def _cmd_session(self, _: str) -> dict:
        sid = self.session_id if self._session_active() else ""
        return _ok(319, "Session" if sid else "No active session", "SESSION", [{"SessionID": sid}])

    def _cmd_logon(self, _: str) -> dict:
        if self._session_active():
            return _err(402, "Another session is active")
        self.session_id = secrets.token_hex(4)
        self.session_used_s = self.clock()
        return _ok(316, "Session created", "SESSION", [{"SessionID": self.session_id}])

    def _cmd_logoff(self, parameter: str) -> dict:
        sid = parameter.split(",")[0].strip()
        if not self._session_active() or sid != self.session_id:
            return _err(403, "Invalid session id")
        self.session_id = ""
        return _ok(317, "Session closed", "SESSION", [{"SessionID": ""}])

    # ------------------------------------------------------------- privileged
    def _privileged(self, name: str, parameter: str) -> dict:
        sid, _, rest = parameter.partition(",")
        if not self._session_active() or sid.strip() != self.session_id:
            return _err(403, "Invalid session id")
        self.session_used_s = self.clock()
        apply = not self.faults.ignore_commands
        args = rest.strip()
        if name in self.quirks.atm_blocks and self.atm_enabled:
            return _err(self.quirks.atm_refusal_code, self.quirks.atm_refusal_msg)
        if name == "curtail":
            if args not in ("sleep", "wakeup"):
                return _err(334, f"Invalid curtail action {args!r}: expected sleep or wakeup")
            if apply:
                self.dynamics.sleep() if args == "sleep" else self.dynamics.wakeup()
            action = "sleep mode" if args == "sleep" else "wake up"
            return _ok(335, "Curtailment command sent", "CURTAIL", [{"Action": action}])
        if name == "profileset":
            try:
                profile = self.model.profile(args)
            except KeyError as e:
                return _err(326, str(e.args[0]))
            if apply:
                self.dynamics.set_profile(profile.name)
            return _ok(321, "Profile Set", "PROFILE", [{"Profile": profile.name}])
        if name == "atmset":
            key, _, value = args.partition("=")
            if key.strip() != "enabled" or value.strip() not in ("true", "false"):
                return _err(337, f"Invalid atmset parameter {args!r}: expected enabled=true|false")
            if apply:
                self.atm_enabled = value.strip() == "true"
            msg = "Advanced Thermal Management configuration updated"
            return _ok(340, msg, "ATM", [{"Enabled": value.strip() == "true"}])
        if name == "ledset":
            if apply:
                self.red_led = args.split(",")[-1] or "off"
            return _ok(330, "LED set", "LED", [{"RedLed": self.red_led}])
        if name in ("reboot", "rebootdevice"):
            if apply and self.on_reboot is not None:
                self.on_reboot(self)
            return _ok(312, "Rebooting", "REBOOT", [{}])
        return _ok(300, f"{name} accepted", name.upper(), [{}])

    def restart(self) -> None:
        """Come back from a reboot: sessions gone, curtailed state kept (LuxOS behaviour)."""
        self.session_id = ""
        self.boot_s = self.clock()
        self.dynamics.restart()
