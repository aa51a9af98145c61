"""The exception tree drawn in errors.py is the tree the classes make."""

from __future__ import annotations

import inspect
import re

from ari_app import errors


def drawn() -> dict[str, str]:
    """Each class of the drawing, with the class it hangs under."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^(\s*(?:[│ ]   )*(?:[├└]── )?)([A-Z][A-Za-z]+)\b", line)
        if found is None or not hasattr(errors, found.group(2)):
            continue
        depth = len(found.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[found.group(2)] = stack[-1][1]
        stack.append((depth, found.group(2)))
    return parents


def test_every_error_class_is_drawn_under_its_parent() -> None:
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.AriAppError) and cls is not errors.AriAppError}
    tree = drawn()
    assert set(tree) == set(classes)
    for name, cls in classes.items():
        assert cls.__bases__[0].__name__ == tree[name], name
