"""The minimal persistent pipe worker used as the subprocess floor in executors.py.

It does what any such worker must and nothing more: read a frame, exec it with stdout
captured, write back a frame with the output (or the error).
"""

import io
import struct
import sys

HEADER = struct.Struct(">I")
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
namespace: dict[str, object] = {}
while True:
    head = stdin.read(HEADER.size)
    if len(head) < HEADER.size:
        break
    code = stdin.read(HEADER.unpack(head)[0]).decode()
    sys.stdout = captured = io.StringIO()
    try:
        exec(code, namespace)
        out = captured.getvalue().encode()
    except Exception as exc:  # the floor reports errors too, as any worker must
        out = repr(exc).encode()
    finally:
        sys.stdout = sys.__stdout__
    stdout.write(HEADER.pack(len(out)) + out)
    stdout.flush()
