"""Redshift played on the real PostgreSQL server and the S3 server (moto), for the Redshift
warehouse's tests: a DB-API connection standing in for redshift_connector's.

It records every statement and executes all but COPY and UNLOAD on PostgreSQL. COPY is carried
out the way Redshift does it, from exactly the files that the load's copy.manifest names on S3.
UNLOAD is read as Redshift reads it (its string literals, backslashes included, by
tests/redshift_unload.py), its query run on PostgreSQL with backslash escapes in string literals
as Redshift has them (standard_conforming_strings off), and the result written under its prefix
on S3 as UNLOAD writes it: Parquet parts and a MANIFEST VERBOSE manifest.
"""

from __future__ import annotations

import json
import re

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from tests.redshift_unload import parse_unload, write_unload

COPY = re.compile(
    r"^copy (?P<table>\S+) from '(?P<manifest>[^']+)' iam_role '(?P<role>[^']+)' "
    r"format as parquet manifest$"
)
UNLOAD_OPTIONS = re.compile(
    r"^format as parquet manifest verbose parallel on maxfilesize (?P<mb>\d+) mb$"
)
# What Redshift's UNLOAD writes for each type (PostgreSQL's type OIDs here): the manifest's
# type and the Parquet column's type. Kept apart from Tributary's mapping on purpose.
UNLOADED_TYPES = {
    16: ("boolean", pa.bool_()),
    20: ("bigint", pa.int64()),
    21: ("smallint", pa.int16()),
    23: ("integer", pa.int32()),
    700: ("real", pa.float32()),
    701: ("double precision", pa.float64()),
    25: ("character varying", pa.string()),
    1043: ("character varying", pa.string()),
    1082: ("date", pa.date32()),
    1114: ("timestamp without time zone", pa.timestamp("us")),
    1184: ("timestamp with time zone", pa.timestamp("us", tz="UTC")),
    17: ("varbyte", pa.binary()),
    3802: ("super", pa.string()),  # jsonb stands in for SUPER: JSON text
}
NUMERIC = 1700  # numeric(p, s): Parquet DECIMAL(p, s)
UNLOAD_BATCH_ROWS = 10_000


class RecordingRedshift:
    def __init__(self, conninfo: str, fs, *, iam_role: str, unload_rows_per_file: int = 2):
        self.conninfo = conninfo
        self.pg = psycopg.connect(conninfo)
        self.fs = fs
        self.iam_role = iam_role
        self.unload_rows_per_file = unload_rows_per_file
        self.statements: list[str] = []

    @property
    def autocommit(self) -> bool:
        return self.pg.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.pg.autocommit = value

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def close(self) -> None:
        self.pg.close()

    def copy(self, table: str, manifest_url: str) -> None:
        with self.fs.open(manifest_url) as handle:
            entries = json.load(handle)["entries"]
        for entry in entries:
            # Redshift requires each file's length in a Parquet manifest, and checks it.
            assert entry["meta"]["content_length"] == self.fs.size(entry["url"])
            with self.fs.open(entry["url"], "rb") as handle:
                rows = pq.read_table(handle).to_pylist()
            if rows:
                names = ", ".join(f'"{name}"' for name in rows[0])
                marks = ", ".join(["%s"] * len(rows[0]))
                with self.pg.cursor() as cursor:
                    cursor.executemany(
                        f"insert into {table} ({names}) values ({marks})",
                        [list(row.values()) for row in rows],
                    )

    def unload(self, statement: str) -> None:
        unload = parse_unload(statement)
        assert unload["iam_role"] == self.iam_role
        assert UNLOAD_OPTIONS.match(unload["options"]), unload["options"]
        assert unload["to"].startswith("s3://") and unload["to"].endswith("/")
        # Redshift's string literals read backslashes as escapes: so does this session. The
        # UNLOAD runs in the caller's session, in its time zone.
        [(zone,)] = self.pg.execute("show timezone").fetchall()
        options = f"-c standard_conforming_strings=off -c TimeZone={zone}"
        with (
            psycopg.connect(self.conninfo, options=options) as con,
            con.cursor(name="unload") as cursor,  # server side: streamed, as slices stream
        ):
            cursor.execute(unload["query"])
            first = cursor.fetchmany(UNLOAD_BATCH_ROWS)
            elements, fields = [], []
            for column in cursor.description:
                if column.type_code == NUMERIC:
                    kind = {"base": "numeric", "precision": column.precision,
                            "scale": column.scale}  # fmt: skip
                    arrow = pa.decimal128(column.precision, column.scale)
                else:
                    base, arrow = UNLOADED_TYPES[column.type_code]
                    kind = {"base": base}
                elements.append({"name": column.name, "type": kind})
                fields.append(pa.field(column.name, arrow))
            schema = pa.schema(fields)
            names = schema.names

            def batches():
                rows = first
                while rows:
                    yield pa.RecordBatch.from_pylist(
                        [dict(zip(names, map(_value, row), strict=True)) for row in rows],
                        schema=schema,
                    )
                    rows = cursor.fetchmany(UNLOAD_BATCH_ROWS)

            write_unload(self.fs, unload["to"], batches(), schema, elements,
                         rows_per_file=self.unload_rows_per_file)  # fmt: skip

    def transaction_log(self) -> list[str]:
        """The statements of the last load's transaction, begin to commit."""
        start = len(self.statements) - 1 - self.statements[::-1].index("begin")
        return self.statements[start:]


def _value(value):
    return json.dumps(value) if isinstance(value, dict | list) else value


class RecordingCursor:
    def __init__(self, owner: RecordingRedshift) -> None:
        self.owner = owner
        self.cursor = owner.pg.cursor()

    def execute(self, sql: str, params=None) -> None:
        statement = " ".join(sql.split())
        self.owner.statements.append(statement)
        copy = COPY.match(statement)
        if copy:
            assert copy["role"] == self.owner.iam_role
            self.owner.copy(copy["table"], copy["manifest"])
        elif statement.startswith("unload ("):
            self.owner.unload(sql)
        else:
            self.cursor.execute(sql, params)

    @property
    def description(self):
        return self.cursor.description

    def fetchall(self) -> list[tuple]:
        return self.cursor.fetchall()

    def fetchmany(self, size: int) -> list[tuple]:
        return self.cursor.fetchmany(size)

    def close(self) -> None:
        self.cursor.close()
