"""`warehouse: {target: redshift}`: an Amazon Redshift cluster that COPYs from the landing
bucket on S3 with an IAM role."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import Field, StringConstraints
from sqlalchemy.engine import URL

from tributary.config.common import ConnectionConfig
from tributary.connection import resolve_url
from tributary.errors import WarehouseError
from tributary.reach import probe
from tributary.warehouse.backend import WarehouseBackend
from tributary.warehouse.postgres.config import query_items, server_dbt_env
from tributary.warehouse.redshift.unload import DEFAULT_FILE_MB, MAX_FILE_MB, MIN_FILE_MB

if TYPE_CHECKING:
    from tributary.config.loader import ProjectConfig
    from tributary.config.models import PlatformConfig
    from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

DEFAULT_PORT = 5439
# dbt-redshift's sslmode values (its profile's only TLS setting), and what each is for
# redshift_connector, which both connect with: its own translation (SSL_MODE_TRANSLATION),
# so that Tributary's connection and dbt's verify the server alike.
SSLMODES = {
    "disable": None,
    "allow": "verify-ca",
    "prefer": "verify-ca",
    "require": "verify-ca",
    "verify-ca": "verify-ca",
    "verify-full": "verify-full",
}
DEFAULT_SSLMODE = "prefer"  # dbt-redshift's and profiles.yml's, redshift_connector's verify-ca


RoleArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$")]


class RedshiftWarehouseConfig(WarehouseBackend):
    target: Literal["redshift"]
    connection: ConnectionConfig
    iam_role: RoleArn = Field(
        description="ARN of the IAM role Redshift assumes to COPY from the landing bucket"
    )
    unload_iam_role: RoleArn | None = Field(
        None,
        description="ARN of the IAM role Redshift assumes to UNLOAD exports into the landing "
        "bucket's _unload/ prefix (s3:PutObject there); unset: iam_role",
    )
    unload_max_file_mb: int = Field(
        DEFAULT_FILE_MB,
        ge=MIN_FILE_MB,
        le=MAX_FILE_MB,
        description="UNLOAD's MAXFILESIZE for exports, in MB: the largest part an export "
        "publishes from Redshift (rows_per_file does not apply there)",
    )
    copy_region: str | None = Field(
        None,
        description="the landing bucket's region, if not the cluster's; unset: landing.region",
    )

    def check_platform(self, platform: PlatformConfig) -> None:
        if not platform.landing.url.startswith("s3://"):
            raise ValueError(
                "landing.url: the redshift warehouse loads with COPY from S3; expected an "
                f"s3://bucket/prefix URL, got {platform.landing.url!r}"
            )

    def for_project(self, project: ProjectConfig) -> Self:
        if self.copy_region is not None:
            return self
        return self.model_copy(update={"copy_region": project.platform.landing.region})

    def open(self, *, state_dir: Path = Path(".")) -> RedshiftWarehouse:
        from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

        url = resolve_url(self.connection, owner="warehouse", state_dir=state_dir)
        driver_sslmode = SSLMODES[sslmode(url) or DEFAULT_SSLMODE]
        timeout = self.connection.connect_timeout

        def connect() -> object:
            import redshift_connector

            # Not redshift_connector's `timeout`: it stays on the socket and would cut off
            # any query (a long COPY) that runs longer.
            probe("redshift", url.host, url.port, owner="warehouse", timeout=timeout)
            return redshift_connector.connect(
                host=url.host,
                port=url.port or DEFAULT_PORT,
                database=url.database,
                user=url.username,
                password=url.password or "",
                ssl=driver_sslmode is not None,
                sslmode=driver_sslmode,
            )

        return RedshiftWarehouse(
            connect,
            iam_role=self.iam_role,
            region=self.copy_region,
            unload_iam_role=self.unload_iam_role,
            unload_max_file_mb=self.unload_max_file_mb,
        )

    def dbt_env(self, *, secrets: bool = True) -> dict[str, str]:
        return server_dbt_env(
            self, default_port=DEFAULT_PORT, secrets=secrets, query_env=sslmode_env
        )


def sslmode(url: URL) -> str | None:
    """The URL's sslmode, its query's only key: Tributary's connection and dbt-redshift's
    profile take no other, so another is refused, naming it (dbt would go without it)."""
    for key, value in query_items(url):
        if key != "sslmode":
            raise WarehouseError(
                f"warehouse: the URL's query key '{key}' cannot be given to dbt: a redshift "
                "URL's query takes sslmode alone; remove it"
            )
        if value not in SSLMODES:
            raise WarehouseError(
                f"warehouse: the URL's sslmode {value!r}; expected one of {', '.join(SSLMODES)}"
            )
    return url.query.get("sslmode")


def sslmode_env(url: URL) -> dict[str, str]:
    """profiles.yml's redshift output reads the URL's sslmode from TRIBUTARY_WAREHOUSE_SSLMODE."""
    mode = sslmode(url)
    return {"TRIBUTARY_WAREHOUSE_SSLMODE": mode} if mode else {}
