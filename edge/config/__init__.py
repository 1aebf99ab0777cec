"""Site configuration: YAML validated into frozen pydantic models."""

from edge.config.site import SiteConfig, load_site

__all__ = ["SiteConfig", "load_site"]
