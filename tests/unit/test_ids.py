"""`backend.ids.uuid7`: version-7 UUIDs in creation order, from OS randomness that a forked
process never shares with its parent."""

from __future__ import annotations

import os
import uuid

from backend.ids import uuid7


def test_ids_are_valid_version_7_uuids_in_creation_order() -> None:
    ids = [uuid7() for _ in range(3000)]  # past the 512 ids one read of OS randomness serves
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for made in ids[:5]:
        again = uuid.UUID(str(made))
        assert (made.version, made.variant) == (7, uuid.RFC_4122)
        assert made == again and hash(made) == hash(again)


def test_a_forked_process_does_not_repeat_its_parents_random_bits() -> None:
    uuid7()  # the parent holds unused random bytes when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids' random bits, then leave at once
        os.close(read)
        os.write(write, b"".join((uuid7().int & (2**62 - 1)).to_bytes(8, "big") for _ in range(50)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    child = {data[i : i + 8] for i in range(0, len(data), 8)}
    parent = {(uuid7().int & (2**62 - 1)).to_bytes(8, "big") for _ in range(50)}
    assert len(child) == 50
    assert not child & parent
