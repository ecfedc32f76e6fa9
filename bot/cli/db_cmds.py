"""`cohort db`: migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli import runtime

app = typer.Typer(help="Database schema and migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration (also done automatically at start)."""
    config = runtime.settings(ctx)

    async def go() -> tuple[str | None, str | None]:
        from bot.store.store import Store

        store = await Store.open(config.database_url, migrate_to_head=True)
        try:
            from bot.store import migrate

            revision = await migrate.current_revision(store.engines.write)
            return revision, migrate.head_revision()
        finally:
            await store.close()

    revision, head = runtime.run(go())
    runtime.out.print(f"database at revision {revision} (head {head})", markup=False)


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Show the database's revision and the newest one this version knows."""
    config = runtime.settings(ctx)
    url = config.database_url
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[-1])
        if not path.exists():
            raise runtime.fail(f"no database at {path} yet: run `cohort db upgrade`")

    async def go() -> tuple[str | None, str]:
        from sqlalchemy.exc import DBAPIError

        from bot.errors import StoreError
        from bot.store import migrate
        from bot.store.engine import create_engines
        from bot.store.store import redact

        engines = create_engines(url)
        try:
            return await migrate.current_revision(engines.write), migrate.head_revision()
        except (DBAPIError, OSError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreError(f"cannot open database {redact(url)}: {reason}") from exc
        finally:
            await engines.dispose()

    revision, head = runtime.run(go())
    status = "up to date" if revision == head else "behind: run `cohort db upgrade`"
    runtime.out.print(f"revision {revision or 'none'}, head {head}: {status}", markup=False)
