"""Exit 0 if the PostgreSQL server of a database URL accepts connections, else say why.

Usage: python scripts/check_postgres.py postgres://user@host:5432/name

It connects to the server's `postgres` database, as the test runner does to create its
test database, so the named database need not exist yet.
"""

import re
import sys

import psycopg
from psycopg.conninfo import make_conninfo


def main(url: str) -> int:
    """Try one connection with a short timeout; print the error on failure."""
    try:
        psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=3).close()
    except psycopg.Error as exc:
        shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
        print(f"PostgreSQL not reachable at {shown}: {str(exc).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
