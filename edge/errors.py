"""The project's error hierarchy: user-facing failures are EdgeError subclasses.

A user error prints one line (`edge` catches EdgeError); anything else is a bug and keeps its
traceback.
"""


class EdgeError(Exception):
    """Base of every error the program reports to a user as one line."""


class ConfigError(EdgeError):
    """A configuration file is missing, unreadable or invalid (names file, line and field)."""


class ProtocolError(EdgeError):
    """A wire format was violated in a way that cannot be skipped (e.g. a malformed capture)."""


class CaptureError(EdgeError):
    """A recorded capture or scenario folder is missing or malformed."""


class SourceError(EdgeError):
    """A hardware source (serial port, camera) cannot be opened or read."""


class ModelError(EdgeError):
    """A model file is missing, corrupt or does not match its contract."""


class SigningKeyError(EdgeError):
    """A signing key is missing, unreadable or has unsafe permissions."""


class DeliveryError(EdgeError):
    """Records could not be delivered (e.g. a drain timed out)."""
