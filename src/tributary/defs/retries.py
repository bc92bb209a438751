"""Retrying transient errors with exponential backoff, the Dagster way (RetryRequested)."""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from tributary.config.models import RetryConfig
from tributary.retry import is_transient

T = TypeVar("T")


def with_retries(
    context: dg.AssetExecutionContext, retries: RetryConfig, action: Callable[[], T]
) -> T:
    """Run `action`; on a transient error ask Dagster to run the step again after the
    configured backoff. Any other error fails the step at once: it would fail again."""
    try:
        return action()
    except Exception as error:
        retry_number = context.retry_number + 1
        if not is_transient(error) or retry_number >= retries.attempts:
            raise
        wait = retries.delay_before(retry_number)
        context.log.warning(
            f"transient error, retry {retry_number} of {retries.attempts - 1} in {wait:g} s: "
            f"{error}"
        )
        raise dg.RetryRequested(max_retries=retries.attempts - 1, seconds_to_wait=wait) from error
