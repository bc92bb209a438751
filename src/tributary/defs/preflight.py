"""The preflight check as a Dagster job: `preflight`, one op (preflight_check) that logs each
line of tributary.preflight and fails the run on any problem (the same as `tributary check`)."""

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.preflight import run_preflight


def build_preflight_job(project: ProjectConfig) -> dg.JobDefinition:
    @dg.op(
        name="preflight_check",
        required_resource_keys={"sources"},
        description="Connect to every enabled table, the warehouse and the stores, and check "
        "what a run needs; writes nothing (see `tributary check`)",
    )
    def preflight(context: dg.OpExecutionContext) -> dg.Output[int]:
        lines, problems = [], []
        for check in run_preflight(project, open_source=context.resources.sources.open):
            line = check.line()
            lines.append(line)
            if check.ok:
                (context.log.warning if check.warnings else context.log.info)(line)
            else:
                context.log.error(line)
                problems.append(line)
        report = dg.MetadataValue.md("```\n" + "\n".join(lines) + "\n```")
        if problems:
            raise dg.Failure(
                description=f"preflight: {len(problems)} problems\n" + "\n".join(problems),
                metadata={"report": report, "problems": len(problems)},
            )
        return dg.Output(len(lines), metadata={"report": report, "problems": 0})

    @dg.job(
        name="preflight",
        description="The preflight check (`tributary check`): every enabled table's object, key, "
        "cursor and lookback, the warehouse login and schemas, the stores' write access",
    )
    def preflight_job() -> None:
        preflight()

    return preflight_job
