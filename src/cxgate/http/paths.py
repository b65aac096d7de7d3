"""Path parameters that take the rest of the path: `{key:keypath}`.

Starlette's `{key:path}` is `.*`, which stops at a line break, and its route regex ends in `$`,
which also matches just before a final line break. So a GMS storage key holding `\n` (stored
from a body like any other key) could not be read or deleted by its path, and `GET .../ab%0A`
read the key `ab` instead of `ab\n`. This convertor matches every character.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class KeyPathConvertor(Convertor[str]):
    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("keypath", KeyPathConvertor())
