"""A set of 64-bit hashes in one flat array: 8 bytes a member instead of the ~70 a Python
set of ints costs, so remembering a million addresses takes about 16 MB."""

from __future__ import annotations

from array import array

_EMPTY = 0


class HashSet:
    """Open addressing with linear probing over an array('Q'). Zero marks an empty slot,
    so a member hash of 0 is stored as 1 (one more hash value that collides)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        size = 1 << max(4, (capacity - 1).bit_length())
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, h: int) -> bool:
        """Add a hash; True if it was new."""
        h = (h & 0xFFFF_FFFF_FFFF_FFFF) or 1
        slots, mask = self._slots, self._mask
        i = h & mask
        while True:
            current = slots[i]
            if current == _EMPTY:
                break
            if current == h:
                return False
            i = (i + 1) & mask
        slots[i] = h
        self._count += 1
        if self._count * 10 > len(slots) * 7:  # keep the load under 0.7: probes stay short
            self._grow()
        return True

    def __contains__(self, h: int) -> bool:
        h = (h & 0xFFFF_FFFF_FFFF_FFFF) or 1
        slots, mask = self._slots, self._mask
        i = h & mask
        while True:
            current = slots[i]
            if current == _EMPTY:
                return False
            if current == h:
                return True
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._slots
        size = 2 * len(old)
        self._slots = slots = array("Q", bytes(8 * size))
        self._mask = mask = size - 1
        for h in old:
            if h != _EMPTY:
                i = h & mask
                while slots[i] != _EMPTY:
                    i = (i + 1) & mask
                slots[i] = h
