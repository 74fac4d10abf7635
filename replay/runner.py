"""`bounceback replay`: the live pipeline's partition processors run over a log file, in one
process or in several, without Kafka.

The log is routed with the pipeline's own partitioner into its partitions (`--partitions`,
4 by default as live; the outputs do not depend on it). With `jobs` processes, process i
holds the address and contact partitions p with p % jobs == i, and only their state
(replay/share.py): each reads the whole log and folds what its partitions own. What the
internal topics carry live between partitions goes through files in a scratch directory:
links and contact commands, which a process reads while it folds (they arrive whenever they
arrive, as live); the last contact commands once every process has folded the whole log
(they make nothing further). Each process writes its outputs as sorted parts that the
parent merges, so the files are byte-identical whatever the number of processes.
"""

from __future__ import annotations

import gc
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from partitions.commands import Link, decode_contact_command, encode
from projections.policy import Policy
from replay.files import merge_parts, write_lines
from replay.share import Share

OUTPUTS = ("addresses", "suppressions", "contacts", "rejected")
DEFAULT_PARTITIONS = 4

_decode_link = msgspec.json.Decoder(tuple[int, Link]).decode


@dataclass
class Summary:
    """What a replay read and wrote."""

    events: int  # lines applied or routed (not rejected, not blank)
    counts: dict[str, int]  # lines written per output file
    peak_rss_mib: list[float]  # per process


@contextmanager
def without_cyclic_gc():
    """The processors build no reference cycles; cyclic GC passes over the growing state
    would only cost time (measured: half of the replay time on a 1M-event log)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Everything allocated meanwhile is still in the youngest generation; the first
        # collection after enabling would walk all of it (measured: 0.7s after a 1M-event
        # fold). Freezing and unfreezing moves it to the oldest generation instead, where
        # it is examined at the next full collection, as long-lived objects are.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def file_lines(path: str | Path) -> Callable[[], Iterator[bytes]]:
    """A log file as a source that can be read more than once."""

    def read() -> Iterator[bytes]:
        with open(path, "rb") as file:
            yield from file

    return read


def fold(
    source: Sequence[bytes] | Callable[[], Iterable[bytes]],
    policy: Policy | None = None,
    as_of: datetime | None = None,
    audit: Callable[[str], bool] | None = None,
    partitions: int = DEFAULT_PARTITIONS,
    address_partitions: Iterable[int] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Share:
    """Fold a log in this process: every partition (or only `address_partitions` of the
    addresses, as `explain` needs), the state kept for the caller to look at."""
    read = source if callable(source) else lambda: source
    everything = range(partitions)
    share = Share(policy or Policy(), partitions,
                  everything if address_partitions is None else address_partitions, everything, audit=audit)
    with without_cyclic_gc():
        share.fold_log(read(), on_progress=on_progress)
        share.finish(as_of)
        share.fill_raw(read())
    return share


def write_outputs(share: Share, out_dir: str | Path) -> dict[str, int]:
    """Write addresses.jsonl, suppressions.jsonl, contacts.jsonl and rejected.jsonl."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with without_cyclic_gc():
        addresses = [record for _, record in share.address_records()]
        return {
            "addresses": write_lines(out / "addresses.jsonl", addresses),
            "suppressions": write_lines(out / "suppressions.jsonl", (r for r in addresses if r.reasons)),
            "contacts": write_lines(out / "contacts.jsonl", (record for _, record in share.contact_records())),
            "rejected": write_lines(out / "rejected.jsonl", share.rejected),
        }


def replay_file(
    path: str | Path,
    out_dir: str | Path,
    policy: Policy | None = None,
    as_of: datetime | None = None,
    jobs: int = 1,
    partitions: int = DEFAULT_PARTITIONS,
    on_progress: Callable[[int], None] | None = None,
) -> Summary:
    """Replay a log file into the four output files, with `jobs` processes (at most one per
    partition)."""
    policy = policy or Policy()
    jobs = max(1, min(jobs, partitions))
    if jobs == 1:
        share = fold(file_lines(path), policy, as_of, partitions=partitions, on_progress=on_progress)
        counts = write_outputs(share, out_dir)
        return Summary(share.events, counts, [_peak_rss_mib()])
    return _replay_in_processes(Path(path), Path(out_dir), policy, as_of, jobs, partitions, on_progress)


# -- several processes -------------------------------------------------------------------------


def _replay_in_processes(path, out, policy, as_of, jobs, partitions, on_progress) -> Summary:
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    barrier = context.Barrier(jobs)
    progress = context.Array("q", jobs, lock=False)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bounceback-replay-", dir=out))
    try:
        for i in range(jobs):
            for j in range(jobs):
                if i != j:
                    (scratch / f"links-{i}-{j}").touch()
                    (scratch / f"commands-{i}-{j}").touch()
        workers = [context.Process(target=_process_share, name=f"replay-{i}",
                                   args=(i, jobs, path, scratch, policy, partitions, as_of, barrier, progress))
                   for i in range(jobs)]
        for worker in workers:
            worker.start()
        _wait(workers, barrier, progress, on_progress)
        counts = {name: merge_parts(out / f"{name}.jsonl", [scratch / f"{name}-{i}" for i in range(jobs)])
                  for name in OUTPUTS}
        summaries = [msgspec.json.decode((scratch / f"summary-{i}").read_bytes()) for i in range(jobs)]
        return Summary(summaries[0]["events"], counts, [s["peak_rss_mib"] for s in summaries])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _wait(workers, barrier, progress, on_progress) -> None:
    """Wait for every process; when one fails, the others are released from the barrier and
    the replay fails with its exit status."""
    while any(w.is_alive() for w in workers):
        for worker in workers:
            worker.join(0.2)
            if worker.exitcode not in (None, 0):
                barrier.abort()
                for other in workers:
                    # released from the barrier; one waiting for the failed one's links is not
                    other.join(5)
                    if other.is_alive():
                        other.terminate()
                        other.join()
                raise RuntimeError(f"replay process {worker.name} failed (exit status {worker.exitcode})")
        if on_progress is not None:
            on_progress(min(progress))
    failed = [w for w in workers if w.exitcode != 0]
    if failed:
        raise RuntimeError(f"replay process {failed[0].name} failed (exit status {failed[0].exitcode})")


def _process_share(index, jobs, path, scratch: Path, policy, partitions, as_of, barrier, progress) -> None:
    mine = [p for p in range(partitions) if p % jobs == index]
    others = [j for j in range(jobs) if j != index]
    links = {j: open(scratch / f"links-{index}-{j}", "ab") for j in others}
    commands = {j: open(scratch / f"commands-{index}-{j}", "ab") for j in others}

    def send_link(p: int, link: Link) -> None:
        links[p % jobs].write(encode((p, link)) + b"\n")

    def send_command(q: int, command) -> None:
        commands[q % jobs].write(encode(command) + b"\n")

    def report(lines: int) -> None:
        progress[index] = lines

    share = Share(policy, partitions, mine, mine, records_rejections=index == 0,
                  send_link=send_link, send_command=send_command)
    links_in = _Inbox([scratch / f"links-{j}-{index}" for j in others], _decode_link)
    commands_in = _Inbox([scratch / f"commands-{j}-{index}" for j in others], decode_contact_command)

    def poll():
        for file in (*links.values(), *commands.values()):
            file.flush()
        # the others' contact commands as they come, so each card takes its messages about in
        # time order, as it does in one process (newest first: the merge's quick way)
        share.take_contact_commands(commands_in.read())
        return links_in.read()

    with without_cyclic_gc():
        share.fold_log(file_lines(path)(), poll=poll, on_progress=report)
        for file in links.values():
            file.write(_END)
            file.close()
        while not links_in.ended:  # the links of the others, until they too have read the whole log
            share.apply_links(links_in.read() or _pause())
        share.finish(as_of)
        share.fill_raw(file_lines(path)())
        for file in commands.values():
            file.close()
        barrier.wait()  # every process's commands written: the rest of them read to the end
        share.apply_contact_commands(commands_in.read())
        addresses = list(share.address_records())
        write_lines(scratch / f"addresses-{index}", addresses)
        write_lines(scratch / f"suppressions-{index}", (pair for pair in addresses if pair[1].reasons))
        write_lines(scratch / f"contacts-{index}", share.contact_records())
        write_lines(scratch / f"rejected-{index}", ((r.line, r) for r in share.rejected))
    (scratch / f"summary-{index}").write_bytes(
        msgspec.json.encode({"events": share.events, "peak_rss_mib": _peak_rss_mib()}))


_END = b"end\n"


class _Inbox:
    """The files other processes write (links, or contact commands), read as they grow:
    complete lines only, each decoded; a link file ends with its end line."""

    def __init__(self, paths: list[Path], decode: Callable[[bytes], object]) -> None:
        self._files = [open(path, "rb") for path in paths]
        self._rests = [b""] * len(paths)
        self._open = set(range(len(paths)))
        self._decode = decode

    @property
    def ended(self) -> bool:
        return not self._open

    def read(self) -> list:
        items = []
        for i in list(self._open):
            data = self._rests[i] + self._files[i].read()
            *lines, self._rests[i] = data.split(b"\n")
            for line in lines:
                if line + b"\n" == _END:
                    self._open.discard(i)
                    self._files[i].close()
                else:
                    items.append(self._decode(line))
        return items


def _pause() -> list:
    time.sleep(0.005)
    return []


def _peak_rss_mib() -> float:
    """This process's own peak resident memory: VmHWM where Linux gives it (ru_maxrss also
    counts what the process was before an exec, so a small command started by a large one
    would report the large one's)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
