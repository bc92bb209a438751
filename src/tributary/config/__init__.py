"""Configuration: pydantic models of assets_config/*.yaml (models.py, common.py) and their
loading (loader.py). Import from those modules: this package imports nothing itself, so that a
warehouse backend's settings can use common.py while models.py assembles them."""
