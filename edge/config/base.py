"""Base class for every configuration model: unknown keys are errors, values are frozen."""

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """Strict config section: rejects unknown keys (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
