"""Avro for the tests, by an independent implementation: Debian's python3-avro.

Run with /usr/bin/python3 (Debian's, where python3-avro is installed):
    import sys; sys.path.insert(0, "test/registry"); import avrotool
"""
import io
import json
import struct
import urllib.request

import avro.io
import avro.schema


def register(url, subject, schema):
    """POST the schema under subject; its id"""
    body = json.dumps({"schema": json.dumps(schema) if not isinstance(schema, str) else schema}).encode()
    req = urllib.request.Request(f"{url}/subjects/{subject}/versions", data=body,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["id"]


def get(url, path):
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as r:
        return json.load(r)


def encode(schema, record, schema_id=None):
    """the record in Avro binary; with schema_id, in Confluent's wire format"""
    s = avro.schema.parse(json.dumps(schema) if not isinstance(schema, str) else schema)
    buf = io.BytesIO()
    if schema_id is not None:
        buf.write(b"\0" + struct.pack(">I", schema_id))
    avro.io.DatumWriter(s).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def decode(schema, data):
    s = avro.schema.parse(json.dumps(schema) if not isinstance(schema, str) else schema)
    return avro.io.DatumReader(s).read(avro.io.BinaryDecoder(io.BytesIO(data)))


def write_files(directory, prefix, messages):
    """one file per message (kcat -P sends each file as one message); the names"""
    names = []
    for i, m in enumerate(messages):
        name = f"{directory}/{prefix}{i:05d}.bin"
        with open(name, "wb") as f:
            f.write(m)
        names.append(name)
    with open(f"{directory}/{prefix}list", "w") as f:
        f.write("\n".join(names) + "\n")
    return names


def read_framed(path):
    """what kcat -C -f '%S\\n%s' wrote: each payload after its length line"""
    data = open(path, "rb").read()
    out, i = [], 0
    while i < len(data):
        nl = data.index(b"\n", i)
        n = int(data[i:nl])
        out.append(data[nl + 1:nl + 1 + n])
        i = nl + 1 + n
    return out
