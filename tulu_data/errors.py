"""Errors that reach the user: each says what is wrong and where."""


class TuluDataError(Exception):
    """Base class for errors reported to the user without a traceback."""


class CatalogError(TuluDataError):
    """The catalog or a mixture file is invalid; the message names the entry and field."""


class SourceError(TuluDataError):
    """An upstream source could not be resolved (offline, missing mirror folder, no files)."""


class SourceFormatError(TuluDataError):
    """A source file is not in the upstream format: the message names the file and the field."""


class EmptyBuildError(TuluDataError):
    """Every row of a split was dropped: the message names the drop reasons that took them."""


class MixtureShortfallError(TuluDataError):
    """A strict mixture part has fewer rows than asked for."""
