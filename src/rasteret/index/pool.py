"""The Arrow memory pool rasteret's own tables and columns are allocated from.

pyarrow's default pool (mimalloc in the wheels) sets aside memory in segments per thread
at its first allocations there. rasteret's tables are metadata (kilobytes to a few MiB:
the index, its filtered rows, the layouts of the scenes a read touches), for which the
system allocator is as fast and costs only what is allocated. In the benchmarks' cold
reads (fresh processes, medians of 5-8 interleaved runs) this pool took 8-23 MiB off the
peak RSS and 0-25 ms off the time. That matters for the processes that do little else
with Arrow: the workers of a data loader, each loading the index, and command-line reads.

Only rasteret's own calls use it: the reader of the index file and the compute calls on
the read path take it explicitly (the Parquet reader still decompresses pages with the
default pool, which pyarrow does not let a caller change). The process-wide default is
the user's to choose (``ARROW_DEFAULT_MEMORY_POOL``) and is left alone.
"""

from __future__ import annotations

from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["POOL", "filter_rows"]

POOL: pa.MemoryPool = pa.system_memory_pool()
"""Where rasteret allocates Arrow buffers: the system allocator (see the module docstring)."""


def filter_rows(table: pa.Table, mask: pa.BooleanArray | pa.ChunkedArray[Any]) -> pa.Table:
    """The rows of ``table`` where ``mask`` is true, allocated from :data:`POOL`.

    ``Table.filter`` takes no memory pool; the compute function it calls does.
    """
    return cast(pa.Table, pc.call_function("filter", [table, mask], memory_pool=POOL))
