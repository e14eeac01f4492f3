"""The one error type of video extraction."""


class ExtractionError(ValueError):
    """Extraction cannot go on; the message names the file or setting and what to do."""
