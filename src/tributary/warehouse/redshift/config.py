"""`warehouse: {target: redshift}`: an Amazon Redshift cluster that COPYs from the landing
bucket on S3 with an IAM role."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import Field, StringConstraints

from tributary.config.common import ConnectionConfig
from tributary.connection import resolve_url
from tributary.reach import probe
from tributary.warehouse.backend import WarehouseBackend
from tributary.warehouse.postgres.config import server_dbt_env
from tributary.warehouse.redshift.unload import DEFAULT_FILE_MB, MAX_FILE_MB, MIN_FILE_MB

if TYPE_CHECKING:
    from tributary.config.loader import ProjectConfig
    from tributary.config.models import PlatformConfig
    from tributary.warehouse.redshift.warehouse import RedshiftWarehouse

DEFAULT_PORT = 5439


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
            )

        return RedshiftWarehouse(
            connect,
            iam_role=self.iam_role,
            region=self.copy_region,
            unload_iam_role=self.unload_iam_role,
            unload_max_file_mb=self.unload_max_file_mb,
        )

    def dbt_env(self, *, secrets: bool = True) -> dict[str, str]:
        return server_dbt_env(self, default_port=DEFAULT_PORT, secrets=secrets)
