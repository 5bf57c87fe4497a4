"""Exception types raised for bad input, so callers can tell them from bugs."""


class UnseenError(ValueError):
    """Invalid input or configuration; the message names the value and the fix."""


class DataError(UnseenError):
    """A table cannot be read or does not match what the model expects."""


class NotFittedError(UnseenError, AttributeError):
    """A fitted attribute or method was used before ``fit``."""


class ModelFileError(UnseenError):
    """A file is not a valid unseen model: wrong format, version, truncated or tampered."""


class TrainingError(UnseenError):
    """Training diverged (non-finite loss) or cannot run on the given data."""
