"""Making many instances of a frozen slots dataclass at half the cost of its __init__, which sets
each field through object.__setattr__ (a name looked up on the type for every field). Bulk paths
make one or two per profile, a thousand profiles a job.

maker(cls) is a function of all the fields' values, in their order, that sets each slot through
its descriptor; it runs no __post_init__ and fills in no default, so it is only for classes
without the one and for callers that give every field. What it makes equals (==, hash, repr)
what cls(*values) makes: a test holds the two together for each class it serves."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def maker(cls: type[T]) -> Any:
    """A function of the values of every field of `cls` (a frozen slots dataclass), in order,
    positionally, that returns the instance."""
    if not is_dataclass(cls) or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} is not a slots dataclass without __post_init__")
    names = [f.name for f in fields(cls)]
    # Each slot's setter a default argument: a local of the made function, read at a local's cost.
    setters = {f"_set_{i}": cls.__dict__[name].__set__ for i, name in enumerate(names)}
    params = ", ".join(f"v{i}" for i in range(len(names)))
    defaults = ", ".join(f"{s}={s}" for s in setters)
    body = "".join(f"    _set_{i}(o, v{i})\n" for i in range(len(names)))
    source = f"def make({params}, *, _new=_new, _cls=_cls, {defaults}):\n    o = _new(_cls)\n{body}    return o\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # noqa: S102 - the source is made here, of field positions alone
    make = namespace["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}"
    return make
