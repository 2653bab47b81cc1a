"""Gateway load: Submit latency at a fixed request rate on PostgreSQL, then Get and List latency with
100 000 jobs stored. Prints a table; `make bench-gateway` runs it. Not a test: nothing here asserts timings.

    .venv/bin/python bench/gateway_load.py [--rate 200 [500]] [--runs 5] [--seconds 20] [--jobs 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.natsd import NatsServer, free_port  # noqa: E402
from reelmill.v1 import batch_service_pb2 as api  # noqa: E402
from reelmill.v1 import batch_service_pb2_grpc as api_grpc  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
LIMIT = str(10**9)  # --with-limits: checked on every Submit, never reached


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def submit_request(media: str, n: int) -> api.SubmitBatchMediaProducingJobRequest:
    doc = {"MediaGroupArray": [{"GroupName": "g", "MediaArray": [f"file://{media}/clip-{n % 7}.mp4"]}]}
    return api.SubmitBatchMediaProducingJobRequest(
        input_config_json=json.dumps(doc), output_config_json=json.dumps({"Count": 3, "MediaURL": ""}),
        client_token=f"bench-{uuid.uuid4().hex}",
    )  # fmt: skip


async def submit_at_rate(stubs: list[api_grpc.BatchMediaProducingServiceStub], media: str, rate: float,
                         seconds: float) -> tuple[list[float], int]:  # fmt: skip
    latencies: list[float] = []
    errors = 0

    async def one(n: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            await stubs[n % len(stubs)].SubmitBatchMediaProducingJob(submit_request(media, n), timeout=5)
            latencies.append((time.perf_counter() - started) * 1000)
        except grpc.aio.AioRpcError:
            errors += 1

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return latencies, errors


def bulk_insert(schema: str, tenant: str, count: int) -> list[str]:
    """Rows as the gateway writes them, straight into the tables (the submit path is measured above)."""
    ids = [uuid.uuid4().hex for _ in range(count)]
    now = datetime.now(UTC).replace(tzinfo=None)
    statuses = ["Finished", "Failed", "Processing", "Init", "Cancelled"]
    with psycopg.connect(PG_ADMIN, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute(f"SET search_path TO {schema}")
        with cur.copy(
            "COPY batches (id, tenant, job_type, status, client_token, request_hash, input_config,"
            " editing_config, output_config, user_data, seed, sub_job_count, cancel_requested, error_code,"
            " error_message, distinct_variants, revision, created_at, modified_at, completed_at) FROM STDIN"
        ) as copy:
            for i, job_id in enumerate(ids):
                created = now - timedelta(seconds=count - i)
                copy.write_row(
                    (
                        job_id,
                        tenant,
                        "Script",
                        statuses[i % 5],
                        None,
                        "h",
                        "{}",
                        "{}",
                        '{"Count": 3}',
                        "",
                        None,
                        3,
                        False,
                        "",
                        "",
                        3,
                        1,
                        created,
                        created,
                        None,
                    )
                )
        with cur.copy("COPY sub_jobs (id, batch_id, idx, status, attempt, progress, media_url, duration_s,"
                      " error_code, error_message, plan, modified_at) FROM STDIN") as copy:  # fmt: skip
            for job_id in ids:
                for idx in range(3):
                    copy.write_row((uuid.uuid4().hex, job_id, idx, "Success", 1, 1.0, "file:///o.mp4", 6.0,
                                    "", "", "", now))  # fmt: skip
        conn.commit()
        cur.execute(f"ANALYZE {schema}.batches")
        cur.execute(f"ANALYZE {schema}.sub_jobs")
    return ids


async def timed(calls: int, make_call: object) -> list[float]:
    latencies = []
    for n in range(calls):
        started = time.perf_counter()
        await make_call(n)  # type: ignore[operator]
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def run(args: argparse.Namespace) -> list[tuple[str, list[float], int]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    tmp = Path(tempfile.mkdtemp(prefix="reelmill-bench-"))
    nats = NatsServer(tmp / "nats").start()
    address = f"127.0.0.1:{free_port()}"
    database_url = f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    env = dict(os.environ, REELMILL_NATS_URL=nats.url, REELMILL_LISTEN=address, REELMILL_OPEN="1",
               REELMILL_DATABASE_URL=database_url, REELMILL_DATA_DIR=str(tmp), REELMILL_MEDIA_ROOTS=str(tmp),
               REELMILL_LOG_LEVEL="WARNING",
               # One tenant at hundreds of submits a second, no workers: the per-tenant limits would
               # (rightly) refuse most of them. Off by default; --with-limits keeps their checks on, with
               # limits too high to refuse, to measure what the checks cost a Submit.
               REELMILL_TENANT_SUBMITS_PER_MINUTE=LIMIT if args.with_limits else "0",
               REELMILL_TENANT_QUEUED_VARIANTS=LIMIT if args.with_limits else "0")  # fmt: skip
    gateway = subprocess.Popen([sys.executable, "-m", "cli", "gateway"], env=env)  # noqa: ASYNC220
    others: list[subprocess.Popen[bytes]] = []
    # py-spy attaches to the gateway rather than starting it: stopping py-spy then leaves no gateway behind.
    # --gil: only what holds the interpreter lock, which is what bounds the gateway's throughput.
    profiler = None
    if args.profile:
        spy = ["py-spy", "record", "--pid", str(gateway.pid), "--gil", "-o", args.profile, "-f", "speedscope"]
        profiler = subprocess.Popen(spy)  # noqa: ASYNC220
    rows: list[tuple[str, list[float], int]] = []
    channels: list[grpc.aio.Channel] = []
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            await asyncio.wait_for(channel.channel_ready(), 30)
            # More gateway processes on the same address, as replicas on one machine: gRPC servers bind
            # with SO_REUSEPORT, so the kernel spreads new connections over them. Started once the first
            # has migrated the schema.
            for _ in range(args.gateways - 1):
                more = dict(env, REELMILL_METRICS_PORT=str(free_port()))
                others.append(subprocess.Popen([sys.executable, "-m", "cli", "gateway"], env=more))  # noqa: ASYNC220
            # Clients on separate connections (a channel of its own each), two per gateway.
            channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                        for _ in range(2 * args.gateways)]  # fmt: skip
            for c in channels:
                await asyncio.wait_for(c.channel_ready(), 30)
            stubs = [api_grpc.BatchMediaProducingServiceStub(c) for c in channels]
            stub = api_grpc.BatchMediaProducingServiceStub(channel)
            await submit_at_rate(stubs, str(tmp), rate=20, seconds=2)  # warm up
            for rate in args.rate:
                for r in range(args.runs):
                    latencies, errors = await submit_at_rate(stubs, str(tmp), rate, args.seconds)
                    run_no = f", run {r + 1} of {args.runs}" if args.runs > 1 else ""
                    name = f"Submit at {rate:g}/s for {args.seconds:g} s (3 variants each){run_no}"
                    rows.append((name, latencies, errors))
            if args.jobs:
                rows += await reads(stub, schema, args)
    finally:
        for c in channels:
            await c.close()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            profiler.wait(30)
        for g in [gateway, *others]:
            g.terminate()
        for g in [gateway, *others]:
            g.wait(30)
        nats.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return rows


async def reads(
    stub: api_grpc.BatchMediaProducingServiceStub, schema: str, args: argparse.Namespace
) -> list[tuple[str, list[float], int]]:
    """Get and List with --jobs jobs stored."""
    ids = bulk_insert(schema, "default", args.jobs)
    rows: list[tuple[str, list[float], int]] = []
    get = await timed(args.calls, lambda n: stub.GetBatchMediaProducingJob(
        api.GetBatchMediaProducingJobRequest(job_id=ids[(n * 7919) % len(ids)])))  # fmt: skip
    rows.append((f"Get with {args.jobs:,} jobs stored", get, 0))
    pages, token = [], ""
    for _ in range(args.calls):
        started = time.perf_counter()
        resp = await stub.ListBatchMediaProducingJobs(
            api.ListBatchMediaProducingJobsRequest(max_results=20, next_token=token)
        )
        pages.append((time.perf_counter() - started) * 1000)
        token = resp.next_token
    rows.append((f"List, 20 per page, paging on, {args.jobs:,} jobs", pages, 0))
    filtered = await timed(args.calls, lambda n: stub.ListBatchMediaProducingJobs(
        api.ListBatchMediaProducingJobsRequest(status="Failed", max_results=20)))  # fmt: skip
    rows.append(("List Status=Failed, 20 per page", filtered, 0))
    return rows


def server() -> str:
    """The PostgreSQL the runs were on, and whether it vacuums by itself: with autovacuum off (as on
    the CI machine's server), every row the relay marks published leaves a dead version in the outbox's
    pending index that each relay cycle walks over, so runs in a row slow down in a way that a
    production server (autovacuum on by default) does not."""
    with psycopg.connect(PG_ADMIN) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        vacuum = conn.execute("SHOW autovacuum").fetchone()
    return f"PostgreSQL {version[0] if version else '?'}, autovacuum {vacuum[0] if vacuum else '?'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[200], help="Submits per second (several: in turn)"
    )
    parser.add_argument("--runs", type=int, default=1, help="Submit runs in a row at each rate, one gateway")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--jobs", type=int, default=100_000, help="jobs stored for Get and List (0: skip them)"
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--gateways", type=int, default=1, help="gateway processes on one address (replicas)")
    parser.add_argument("--with-limits", action="store_true",
                        help="keep the per-tenant limit checks on (too high to refuse)")  # fmt: skip
    parser.add_argument(
        "--profile",
        default="",
        help="record the gateway into this speedscope file with py-spy (pip install py-spy)",
    )
    args = parser.parse_args()
    rows = asyncio.run(run(args))
    print(f"\n{server()}")
    print("\n| gateway, PostgreSQL | calls | errors | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name, latencies, errors in rows:
        print(f"| {name} | {len(latencies)} | {errors} | {statistics.median(latencies):.1f} | "
              f"{percentile(latencies, 99):.1f} | {max(latencies):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
