"""Running a helper program (speech engine, sox) with input, a time limit and our own error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ari_app.errors import MediaError


async def run(argv: Sequence[str], stdin: bytes, *, timeout: float,
              error: type[MediaError]) -> bytes:
    """Standard output of `argv` fed `stdin`; `error` when it cannot start, fails or is late.

    Messages name the program, never its input (which may be a code).
    """
    name = argv[0].rsplit("/", 1)[-1]
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise error(f"cannot run {name}: {exc.strerror}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise error(f"{name} took longer than {timeout:.0f} s") from exc
    if process.returncode != 0:
        raise error(f"{name} failed (exit {process.returncode}): "
                    f"{err.decode(errors='replace')[:200]}")
    return out
