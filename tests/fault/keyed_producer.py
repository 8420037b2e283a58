#!/usr/bin/env python3
"""A producer of tasks with unique keys (proto/SPEC.md §3.6 ext-unique), on a
raw ZeroMQ socket through tests/protocol/flp.py, for test_scheduling_keys.py.

    keyed_producer.py ENDPOINT PRODUCER_HEX NAME TTL_MS KEYS_FILE LEDGER [START_AT]

Sends one task per key of KEYS_FILE (one key a line, in that order) with ids
PRODUCER_HEX:1.., in FLP/1.2 SUBMITs of up to 20 records, all batches at once
(no waiting between them), waits for every ACK, and appends a ledger line per
task: "accepted ID KEY" for OK, "rejected ID DUPLICATE KEY" for DUPLICATE,
"rejected ID STATUS KEY" otherwise (the fault harness reads both: a rejected
task that runs fails the test). START_AT (wall seconds): sleep until then, so
that several producers send together. Exit 0 once every batch was answered."""
import os, struct, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "protocol"))
import flp  # noqa: E402  (re-runs under a Python with pyzmq, or skips)

BATCH = 20


def main():
    endpoint, producer, name, ttl_ms, keys_file, ledger = sys.argv[1:7]
    start_at = float(sys.argv[7]) if len(sys.argv) > 7 else 0
    producer, ttl_ms = int(producer, 16), int(ttl_ms)
    with open(keys_file) as f:
        keys = [line.strip() for line in f if line.strip()]
    peer = flp.Peer(endpoint)
    batches = {}
    for first in range(0, len(keys), BATCH):
        part = keys[first:first + BATCH]
        records = [flp.extend(flp.record(producer, first + i + 1, name, '{"key":"%s"}' % key),
                              [(4, struct.pack(">I", ttl_ms) + key.encode())])
                   for i, key in enumerate(part)]
        batches[first + 1] = (part, flp.submit(first + 1, records, version=3))
    time.sleep(max(0, start_at - time.time()))
    for seq, (_, frames) in batches.items():
        peer.send(frames)
    lines = []
    while batches:
        msg = peer.expect("ACK", timeout=20)
        batch_seq, count = struct.unpack(">QI", msg.frames[1])
        part, _ = batches.pop(batch_seq)
        for i, status in enumerate(msg.frames[2]):
            task = "%016x:%d" % (producer, batch_seq + i)
            reason = flp.REASONS.get(status, str(status))
            if reason == "OK":
                lines.append("accepted %s %s\n" % (task, part[i]))
            else:
                lines.append("rejected %s %s %s\n" % (task, reason, part[i]))
    with open(ledger, "a") as f:
        f.writelines(lines)
    peer.close()


if __name__ == "__main__":
    main()
