"""The benchmark's Switchboard databases: a fresh SQLite file per system, or BENCH_DATABASE_URL.

SQLite: the schema is migrated once per run into a template, and every system gets its
own copy, so no system inherits another's rows or caches. PostgreSQL (BENCH_DATABASE_URL):
migrated once, then emptied before each system; its name must contain "bench", because
everything in it is deleted. The no-op DRF endpoint, which runs beside Switchboard's, gets
a database of its own next to it (the same name + "_noop"); both are created when missing.
"""

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import systems
from bench.processes import run_to_end

SETTINGS = "bench.settings"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class Databases:
    def __init__(self, run_dir: Path, url: str | None) -> None:
        self.run_dir = run_dir
        self.url = url
        self.template = run_dir / "template.sqlite3"
        self.description = "PostgreSQL (BENCH_DATABASE_URL)" if url else "SQLite (WAL), a fresh file per system"

    def _env(self, base: dict[str, str], url: str) -> dict[str, str]:
        return dict(base, DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=url)

    def prepare(self, base_env: dict[str, str], say: Callable[[str], None]) -> None:
        """Migrate the template (SQLite) or the given database once."""
        url = self.url or sqlite_url(self.template)
        say(f"migrating the benchmark database ({self.description})")
        env = self._env(base_env, url)
        if self.url:
            _create_if_missing(self.url)
            _create_if_missing(_noop_url(self.url))
            self._run(["-m", "bench.sb_setup", "wipe"], env)
            self._run(["manage.py", "migrate", "--noinput"], self._env(base_env, _noop_url(self.url)))
        self._run(["manage.py", "migrate", "--noinput"], env)

    def fresh(self, system: str, base_env: dict[str, str]) -> dict[str, str]:
        """Give `system` an empty migrated database; return the environment that points at it."""
        if self.url:
            url = _noop_url(self.url) if system == systems.NOOP_DRF else self.url
            self._run(["-m", "bench.sb_setup", "wipe"], self._env(base_env, url))
            return {"DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": url}
        path = self.run_dir / f"{system}.sqlite3"
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        source, target = sqlite3.connect(self.template), sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return {"DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": sqlite_url(path)}

    def _run(self, args: list[str], env: dict[str, str]) -> None:
        run_to_end(" ".join(args), [sys.executable, *args], env, self.run_dir / "setup.log", timeout=600)


def _noop_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_noop"))


def _create_if_missing(url: str) -> None:
    """Create the PostgreSQL database `url` names, through the server's `postgres` database."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"Refusing to use database {name!r}: the benchmark empties it, so its name must contain 'bench'."
        )
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
