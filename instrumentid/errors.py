"""Exceptions raised by instrumentid.

Every error a user can cause derives from :class:`InstrumentIdError`; the command-line interface turns it into one
line on stderr and exit code 2.
"""

__all__ = ["InstrumentIdError", "ModelFileError", "NotFittedError", "ParameterError"]


class InstrumentIdError(Exception):
    """Root of every exception raised by instrumentid."""


class ParameterError(InstrumentIdError, ValueError):
    """A value, file or array that cannot be used as given (missing file, wrong shape, NaN, bad label...)."""


class ModelFileError(ParameterError):
    """A saved model that cannot be trusted: missing, truncated, tampered with or of another version."""


class NotFittedError(InstrumentIdError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""
