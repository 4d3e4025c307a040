"""Errors the CLI turns into exit codes: DataError -> 1, UsageError -> 2."""


class L4RError(Exception):
    exit_code = 1


class DataError(L4RError):
    """Bad input data; the message reads `file:line: field: what is wrong`."""

    exit_code = 1

    def __init__(self, what: str, file: str = "", line: int | None = None, field: str | None = None):
        self.file, self.line, self.field, self.what = file, line, field, what
        place = file or "<input>"
        if line is not None:
            place += f":{line}"
        super().__init__(f"{place}: {field}: {what}" if field else f"{place}: {what}")


class UsageError(L4RError):
    """Bad flags or a missing input path."""

    exit_code = 2
