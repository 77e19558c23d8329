"""Numbered UTF-8 lines of a text file, with decoding errors reported as ``file:line`` (the readers' contract)."""


def numbered_lines(path):
    """Yields ``(line number from 1, line)`` of UTF-8 text file ``path`` (a final ``\r\n`` read as ``\n``).

    A line that is not valid UTF-8 raises ValueError ``path:line: not UTF-8 (byte 0x.. at column c)``, so a
    binary or Latin-1 file given to a reader fails with the place to look, not a bare UnicodeDecodeError.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}:{number}: not UTF-8 (byte 0x{raw[error.start]:02x} at column "
                                 f"{error.start + 1}); convert the file to UTF-8") from None
            yield number, line[:-2] + "\n" if line.endswith("\r\n") else line
