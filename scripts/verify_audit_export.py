#!/usr/bin/env python3
"""Verify a `finbot audit export` file with nothing but the Python standard library.

Usage: python3 verify_audit_export.py EXPORT.jsonl
Checks that every record's hash is SHA-256(previous hash + body), that the records link
from the anchor without gaps, and that the last record is included in the checkpoint
(RFC 6962 / RFC 9162 inclusion proof). Exits 0 if all holds, 1 naming the first problem.
"""

import hashlib
import json
import sys


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def included(leaf, index, size, path, root):
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(sibling, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def main(path):
    with open(path, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    header, records, tail = lines[0], lines[1:-1], lines[-1]
    if header.get("format") != "finbot-audit-export/1":
        return "not a finbot audit export"
    prev, seq = header["anchor_prev_hash"], header["from"]
    for record in records:
        if record["seq"] != seq:
            return f"record {record['seq']}: expected {seq}"
        if record["prev_hash"] != prev:
            return f"record {seq}: does not link to the record before it"
        if hashlib.sha256((prev + record["body"]).encode()).hexdigest() != record["hash"]:
            return f"record {seq}: hash does not match its content"
        if json.loads(record["body"])["seq"] != seq:
            return f"record {seq}: body names another sequence number"
        prev, seq = record["hash"], seq + 1
    if seq - 1 != header["to"]:
        return f"the file ends at record {seq - 1}, not {header['to']}"
    if tail.get("checkpoint"):
        proof, checkpoint = tail["proof"], tail["checkpoint"]
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(prev)).digest()
        if not included(leaf, proof["index"], checkpoint["tree_size"],
                        [bytes.fromhex(p) for p in proof["path"]],
                        bytes.fromhex(checkpoint["root_hash"])):
            return "the last record is not included in the checkpoint"
    return None


if __name__ == "__main__":
    problem = main(sys.argv[1])
    print(problem or "export verifies")
    sys.exit(1 if problem else 0)
