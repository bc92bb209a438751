"""Tributary: operational sources -> warehouse -> dbt -> object-storage exports."""
