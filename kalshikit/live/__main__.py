"""``python -m kalshikit.live``: the live engine headless, with a status line, until SIGINT/SIGTERM or --duration.

    python -m kalshikit.live                       # simulator (no credentials), synthetic market data
    python -m kalshikit.live --demo                # simulator + bundled recording + demo positions with stops
    python -m kalshikit.live --env demo --stop-loss 0.10 --take-profit 0.15
    python -m kalshikit.live --env prod ...        # real money: only when named

With rules (--stop-loss ..., --rules FILE) the positions already held are checked over REST before the engine
starts: a rule that cannot be armed on one of them, or a level the current price already crosses (the position
would be sold at once), stops the start with exit code 2 and what to change. --allow-immediate means "a crossed
level is meant: exit those positions now".

Exit codes: 0 clean stop (also on SIGINT/SIGTERM), 2 bad configuration, credentials or rules (the message says what
to fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from kalshikit.config import ENVIRONMENTS, LOG_LEVELS, Settings
from kalshikit.core.rules import STALE_POLICIES, TRIGGER_SOURCES, protection
from kalshikit.errors import ConfigError, KalshiKitError, RuleError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sample"
log = logging.getLogger("kalshikit.live")

RULE_FLAGS = {
    "stop_loss": "stop",
    "stop_price": "stop_price",
    "take_profit": "take_profit",
    "trailing": "trailing",
    "trailing_activation": "trailing_activation",
    "break_even_after": "break_even_after",
    "exit_before_close": "exit_before_close_s",
    "trigger_source": "trigger_source",
    "stale_policy": "stale_policy",
    "max_slippage": "max_slippage",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kalshikit.live", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=ENVIRONMENTS, help="sim (default without credentials), demo (default with "
                   "credentials) or prod (real money; must be named)")
    p.add_argument("--recording", action="append", type=Path, default=[],
                   help="recording(s) for the simulator's market data (repeatable)")
    p.add_argument("--speed", type=float, default=1.0, help="simulator replay speed (default 1.0)")
    p.add_argument("--record", type=Path, metavar="DIR", help="record the session's raw frames to DIR")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--demo", action="store_true",
                   help="simulator only: bundled recording plus a few demo positions with stops")
    p.add_argument("--rules", type=Path, metavar="FILE", help="TOML file with a [rules] table for all positions")
    p.add_argument("--stop-loss", type=float, metavar="DOLLARS", help="stop this far below entry (e.g. 0.10)")
    p.add_argument("--stop-price", type=float, metavar="DOLLARS", help="absolute stop level")
    p.add_argument("--take-profit", type=float, metavar="DOLLARS", help="take profit this far above entry")
    p.add_argument("--trailing", type=float, metavar="DOLLARS", help="trailing stop distance")
    p.add_argument("--trailing-activation", type=float, metavar="DOLLARS", help="start trailing after this gain")
    p.add_argument("--break-even-after", type=float, metavar="DOLLARS", help="move the stop to entry after this gain")
    p.add_argument("--exit-before-close", type=int, metavar="SECONDS", help="exit this long before market close")
    p.add_argument("--trigger-source", choices=TRIGGER_SOURCES, help="price the rules compare (default bid)")
    p.add_argument("--stale-policy", choices=STALE_POLICIES, help="what to do on a stale price (default confirm)")
    p.add_argument("--max-slippage", type=float, metavar="DOLLARS", help="lowest exit price below the trigger")
    p.add_argument("--allow-immediate", action="store_true",
                   help="the rules may cross the current price of a position held: exit it now (without this, "
                   "such rules stop the start with exit code 2)")
    p.add_argument("--status-every", type=float, metavar="SECONDS",
                   help="status line interval (default UI_UPDATE_INTERVAL on a terminal, 10 s otherwise)")
    p.add_argument("--log-level", type=str.upper, choices=[level.upper() for level in LOG_LEVELS], default=None,
                   help="what is logged to stderr (default LOG_LEVEL, else INFO)")
    p.add_argument("--env-file", type=Path, default=Path(".env"),
                   help="settings file read under the environment (default .env; the simulator writes one)")
    return p


def rules_from(args: argparse.Namespace) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    if args.rules is not None:
        try:
            data = tomllib.loads(args.rules.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"--rules {args.rules}: {exc}") from None
        table = data.get("rules", data)
        unknown = set(table) - set(RULE_FLAGS)
        if unknown:
            raise ConfigError(f"--rules {args.rules}: unknown keys {sorted(unknown)}; allowed: {sorted(RULE_FLAGS)}")
        rules.update({RULE_FLAGS[k]: v for k, v in table.items()})
    for flag, key in RULE_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            rules[key] = value
    return rules


def _status_printer(every: float) -> Any:
    from kalshikit.live.ui_thread import status_line

    last = [0.0]

    def show(snap: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            print(status_line(snap), flush=True)

    return show


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    done = threading.Event()
    signalled: list[str] = []

    def _signal(signum: int, _frame: Any) -> None:
        if not signalled:  # a second Ctrl-C (or the same one forwarded by tasks.py) changes nothing
            signalled.append(signal.Signals(signum).name)
            log.info("received %s, stopping", signalled[0])
        done.set()

    # From the start, so a Ctrl-C while the engine is still starting stops it cleanly too (no traceback).
    signal.signal(signal.SIGINT, _signal)
    signal.signal(signal.SIGTERM, _signal)
    try:
        overrides: dict[str, Any] = {}
        if args.env:
            overrides["env"] = args.env
        if args.log_level:
            overrides["log_level"] = args.log_level
        if args.env_file != Path(".env") and not args.env_file.is_file():
            raise ConfigError(f"--env-file {args.env_file} does not exist")
        settings = Settings.from_env(env_file=args.env_file, **overrides)
    except ConfigError as exc:
        print(f"kalshikit: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.demo and settings.env != "sim":
            raise ConfigError("--demo runs on the simulator only; drop --env or use --env sim")
        rules = rules_from(args)
        if args.demo:
            rules = {"stop": 0.04, "take_profit": 0.05, "trailing": 0.03, **rules}
        default = protection(**rules) if rules else None  # what it leaves open comes from the settings
        recordings = list(args.recording)
        if args.demo and not recordings and SAMPLE.is_dir():
            recordings = [SAMPLE]
        if recordings and settings.env != "sim":
            raise ConfigError("--recording feeds the simulator; it cannot be used with --env demo/prod")
        if default is not None and settings.rest_url:  # an exchange that may hold positions already
            _check_positions_held(settings, default, args.allow_immediate)
        from kalshikit.live.kit import Kit

        kit = Kit(settings, default_protection=default, recording=recordings or None, sim_speed=args.speed,
                  record_dir=args.record)
        kit.start()
    except (ConfigError, RuleError) as exc:
        print(f"kalshikit: configuration error: {exc}", file=sys.stderr)
        return 2
    except KalshiKitError as exc:
        print(f"kalshikit: {exc} ({exc.who_acts} must act)", file=sys.stderr)
        return 2

    every = args.status_every or (settings.ui_update_interval if sys.stdout.isatty() else 10.0)
    kit.on_update(_status_printer(every))
    if args.demo:
        from kalshikit.live.demo import DemoTrader

        kit.on_update(DemoTrader(kit).on_update)
    try:
        done.wait(args.duration)
    finally:
        kit.stop()
        trades = kit.trades()
        print(f"stopped: {len(trades)} positions closed this session", flush=True)
        if len(trades):
            cols = ["ticker", "side", "count", "reason", "entry_price", "exit_price", "pnl", "fees"]
            print(trades[cols].to_string(index=False), flush=True)
            print(f"net P&L {trades['pnl'].sum():+.2f} USD after {trades['fees'].sum():.2f} fees", flush=True)
    return 0


def _check_positions_held(settings: Settings, default: Any, allow_immediate: bool) -> None:
    """Exit-2 problems of the default rules on the positions held now (see :mod:`kalshikit.live.preflight`)."""
    from kalshikit.kalshi.rest import KalshiRest
    from kalshikit.live.kit import journal_path_for
    from kalshikit.live.preflight import check_default_rules

    with KalshiRest.from_settings(settings) as rest:
        held = check_default_rules(rest, default, allow_immediate=allow_immediate, journal=journal_path_for(settings))
    if held:
        log.info("the rules can protect the %d position(s) held: %s", len(held), ", ".join(h.ticker for h in held))


if __name__ == "__main__":
    sys.exit(main())
