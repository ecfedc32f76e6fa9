"""`cohort run` reduced to its delivery job, for the process tests (not a test module).

Run as `python -m tests.process.dispatch_runner CONFIG OUT [--schema S]`: it opens the
store, makes sure `--members` members of discord:g1 opted in to DMs, queues one digest
DM each (dedupe keys make a restart queue nothing new), then runs the real
`background_jobs` deliveries job with the file transport standing in for Discord,
until SIGINT/SIGTERM stop it the way they stop `cohort run`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


async def main(config: Path, out: Path, schema: str | None, members: int) -> None:
    """Queue the campaign, send it until a signal, stop like `cohort run`."""
    from bot.app import Cohort
    from bot.cli.runtime import stop_on_signals
    from bot.config import load_settings
    from bot.core.delivery.owners import process_name
    from bot.core.delivery.transport import FileTransport
    from bot.core.jobs import JobRunner, background_jobs
    from bot.core.services.context import utc_now
    from bot.core.services.suite import Services
    from bot.domain.replies import Paragraph, Reply, reply_to_dict
    from bot.logging_setup import configure_logging
    from bot.store import outbox
    from bot.store.communities import find_community
    from bot.store.members import find_member
    from tests.helpers import consent, write

    configure_logging("INFO")
    stop = stop_on_signals()
    cohort = await Cohort.build(load_settings(config), schema=schema)
    try:
        await write(cohort, *(consent(f"u{n}", True, True) for n in range(members)))
        async with cohort.store.write() as conn:
            place = await find_community(conn, "discord", "g1")
            assert place is not None
            queued = []
            for n in range(members):
                member = await find_member(conn, "discord", f"u{n}")
                assert member is not None
                reply = Reply((Paragraph.of(f"hello u{n}"),))
                queued.append(
                    outbox.NewDelivery(
                        kind="dm",
                        purpose="digest",
                        payload={
                            "platform": "discord",
                            "recipient": f"u{n}",
                            "community": "g1",
                            "reply": reply_to_dict(reply),
                        },
                        dedupe_key=f"process-test:{n}",
                        community_id=place.id,
                        member_id=member.id,
                    )
                )
            await outbox.enqueue(conn, queued, utc_now())
        transport = FileTransport(out)
        services = Services.build(cohort, instance=process_name())
        jobs = JobRunner(
            [
                job
                for job in background_jobs(services, {"discord": transport})
                if job.name == "deliveries"
            ]
        )
        jobs.start()
        print("ready", flush=True)
        await stop.wait()
        await jobs.stop()
        transport.close()
    finally:
        await cohort.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--schema")
    parser.add_argument("--members", type=int, default=150)
    options = parser.parse_args()
    asyncio.run(main(options.config, options.out, options.schema, options.members))
