"""``python -m kalshikit.sim``: run the local Kalshi-compatible exchange in the foreground until SIGINT/SIGTERM.

Once listening it prints ONE line to stdout::

    kalshikit-sim ready rest=http://127.0.0.1:PORT/trade-api/v2 ws=ws://127.0.0.1:PORT/trade-api/ws/v2 key_id=ab12cd34…
    private_key=/tmp/.../sim-demo.key settings=/tmp/.../kit.env

(``private_key`` and ``settings`` only for the generated demo key. Key ids are masked on screen; the ``settings``
file, mode 600, holds the full id, the key path and the URLs for ``python -m kalshikit.live --env-file``. The line
never holds key material.) Logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kalshikit.config import mask_key_id
from kalshikit.sim.faults import parse_reject_subscribes, parse_rest_errors
from kalshikit.sim.ratelimit import RateLimits
from kalshikit.sim.server import Simulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kalshikit.sim",
        description="Local Kalshi-compatible exchange: REST /trade-api/v2 and WebSocket /trade-api/ws/v2 on one port.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    src = p.add_argument_group("market data")
    src.add_argument(
        "--recording",
        action="append",
        default=[],
        metavar="FILE",
        help="recording file or directory to play (repeatable); default: the synthetic generator",
    )
    src.add_argument("--speed", type=float, default=1.0, help="tape speed factor; 0 = as fast as clients read")
    mode = src.add_mutually_exclusive_group()
    mode.add_argument("--loop", dest="loop", action="store_true", default=True, help="replay the tape at its end")
    mode.add_argument("--once", dest="loop", action="store_false", help="play the tape once")
    src.add_argument("--no-tape", action="store_true", help="no market data at all (markets via the Python API)")
    src.add_argument(
        "--wait-for-subscriber",
        action="store_true",
        help="hold the tape until the first WebSocket subscription (benchmarks, demos)",
    )
    src.add_argument("--synthetic-markets", type=int, default=6, help="synthetic tape: number of markets")
    src.add_argument("--synthetic-duration", type=float, default=600.0, help="synthetic tape: seconds per pass")
    src.add_argument("--synthetic-rate", type=float, default=2.0, help="synthetic tape: ticker updates/s per market")
    src.add_argument("--seed", type=int, default=7, help="synthetic tape: random seed")
    src.add_argument("--legacy-frames", action="store_true", help="also emit legacy integer cent/count WS fields")
    acct = p.add_argument_group("account and keys")
    acct.add_argument("--key-id", help="accept this API key id (with --public-key) instead of a generated demo key")
    acct.add_argument("--public-key", type=Path, metavar="PEMFILE", help="public key PEM of --key-id")
    acct.add_argument("--state-dir", type=Path, help="where to write the demo private key (default: a new temp dir)")
    acct.add_argument("--balance-dollars", type=int, default=10_000, help="starting balance (default 10000)")
    acct.add_argument("--skew-s", type=float, default=60.0, help="allowed clock skew of signed requests")
    acct.add_argument("--read-tokens", type=float, default=1_000_000.0, help="read bucket tokens/s per key")
    acct.add_argument("--write-tokens", type=float, default=1_000_000.0, help="write bucket tokens/s per key")
    acct.add_argument("--heartbeat-s", type=float, default=10.0, help="WebSocket ping interval")
    f = p.add_argument_group("fault injection")
    f.add_argument("--drop-every", type=float, metavar="SECONDS", help="abort every WebSocket connection every N s")
    f.add_argument(
        "--freeze-after",
        type=float,
        metavar="SECONDS",
        help="freeze each WebSocket connection N s after it opens (open, silent, no pings)",
    )
    f.add_argument("--malformed-every", type=float, metavar="SECONDS", help="send a malformed frame every N s")
    f.add_argument(
        "--skip-seq-every", type=float, metavar="SECONDS", help="skip an orderbook seq every N s (no data is lost)"
    )
    f.add_argument(
        "--drop-delta-every",
        type=float,
        metavar="SECONDS",
        help="really lose an orderbook_delta frame every N s (its seq is used up, the book change never sent)",
    )
    f.add_argument(
        "--reject-subscribes",
        action="append",
        default=[],
        metavar="CODE[:COUNT]",
        help="answer the next COUNT subscribe/add_markets commands with WebSocket error CODE, e.g. 26:3 (repeatable)",
    )
    f.add_argument(
        "--rest-errors",
        action="append",
        default=[],
        metavar="STATUS[:COUNT]",
        help="answer the next COUNT REST calls with STATUS, e.g. 429:5 (repeatable)",
    )
    f.add_argument("--latency-ms", type=float, default=0.0, help="delay every REST reply by N ms")
    f.add_argument(
        "--hang-orders", type=int, default=0, metavar="N", help="the next N order writes execute but never get a reply"
    )
    f.add_argument(
        "--rest-lag", type=float, default=0.0, metavar="SECONDS",
        help="portfolio reads (orders) show the exchange as of N s ago, as /exchange/user_data_timestamp says",
    )
    f.add_argument(
        "--accept-reused-ids", action="store_true",
        help="accept a client_order_id again once its first order is closed (Kalshi only documents refusing it "
        "while the first order is open)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if (args.key_id is None) != (args.public_key is None):
        parser.error("--key-id and --public-key go together")
    if args.no_tape and args.recording:
        parser.error("--no-tape and --recording exclude each other")
    try:
        rest_errors = [parse_rest_errors(s) for s in args.rest_errors]
        rejections = [parse_reject_subscribes(s) for s in args.reject_subscribes]
        public_pem = args.public_key.read_bytes() if args.public_key else None
        sim = Simulator(
            host=args.host,
            port=args.port,
            recordings=args.recording or None,
            synthetic=False
            if (args.recording or args.no_tape)
            else {
                "markets": args.synthetic_markets,
                "duration_s": args.synthetic_duration,
                "seed": args.seed,
                "rate_hz": args.synthetic_rate,
            },
            speed=args.speed,
            loop=args.loop,
            key_id=args.key_id,
            public_key_pem=public_pem,
            state_dir=args.state_dir,
            balance_dollars=args.balance_dollars,
            heartbeat_s=args.heartbeat_s,
            skew_s=args.skew_s,
            rate_limits=RateLimits(args.read_tokens, args.write_tokens),
            legacy_frames=args.legacy_frames,
            tape_waits_for_subscriber=args.wait_for_subscriber,
            accept_reused_ids=args.accept_reused_ids,
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    faults = sim.faults
    for status, count in rest_errors:
        faults.rest_errors(status, count)
    faults.latency_ms = args.latency_ms
    faults.rest_lag_s = args.rest_lag
    if args.hang_orders:
        faults.hang_orders(args.hang_orders)
    faults.drop_every_s = args.drop_every
    faults.freeze_after_s = args.freeze_after
    faults.malformed_every_s = args.malformed_every
    faults.skip_seq_every_s = args.skip_seq_every
    faults.drop_delta_every_s = args.drop_delta_every
    for code, count in rejections:
        faults.reject_subscribes(code, count)

    def ready(s: Simulator) -> None:
        # Key ids are masked on screen; the demo key's full id goes, with the key path and the URLs, into a
        # settings file (mode 600) the kit reads: python -m kalshikit.live --env-file <settings>.
        line = f"kalshikit-sim ready rest={s.rest_url} ws={s.ws_url} key_id={mask_key_id(s.key_id)}"
        if s.private_key_path is not None:
            line += f" private_key={s.private_key_path} settings={write_kit_settings(s)}"
        print(line, flush=True)

    try:
        sim.serve_forever(ready)
    except OSError as exc:
        print(f"kalshikit-sim: {exc}", file=sys.stderr)
        return 2
    return 0


def write_kit_settings(sim: Simulator) -> Path:
    """A ``.env``-style file with everything the kit needs to trade this simulator with its demo key."""
    env = sim.kit_env()
    path = Path(env["KALSHI_PRIVATE_KEY_PATH"]).parent / "kit.env"
    text = "# written by python -m kalshikit.sim: python -m kalshikit.live --env-file THIS_FILE\n" + "".join(
        f"{name}={value}\n" for name, value in env.items()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


if __name__ == "__main__":
    sys.exit(main())
