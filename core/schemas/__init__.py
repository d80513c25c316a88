"""Canonical write schemas: the body of ``PUT /v1/{kind}/{id}`` for every kind of record.

Importing this package also imports :mod:`core.kinds`. The kind registry is circular
by nature (``core.kinds`` builds its lookups from ``core.schemas.registry``, which needs
``core.kinds.Kind``); starting from ``core.kinds`` here makes every import order work,
including ``import core.schemas.registry`` first.
"""

import core.kinds  # noqa: F401
