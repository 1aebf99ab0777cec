"""Site configuration: YAML validated into frozen pydantic models.

`SiteConfig` and `load_site` are imported lazily: the site file has a `plates:` section whose
model lives in edge.vision.plates.config, which itself builds on edge.config.base; an eager
import here would make `import edge.vision.plates` circular.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.config.site import SiteConfig, load_site

__all__ = ["SiteConfig", "load_site"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edge.config import site  # noqa: PLC0415 (lazy on purpose, see module doc)

        return getattr(site, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
