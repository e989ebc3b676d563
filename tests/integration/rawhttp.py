"""Raw HTTP exchanges for the integration scripts: bytes sent exactly as
given (curl would fix framing, Host or the request target), the answer read
until the server closes the connection.

    import sys; sys.path.insert(0, "tests/integration"); from rawhttp import exchange
"""
import socket


def exchange(port, data, timeout=5, timeout_ends=False, source=None):
    """Sends data to 127.0.0.1:port and returns every byte that came back
    until the connection closed. A wait of more than timeout seconds for
    the next bytes raises socket.timeout, or, with timeout_ends, ends the
    read (a server that keeps the connection open). source: the local
    address to send from ("127.0.0.31"), for per-address limits."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                if timeout_ends:
                    break
                raise
            if not b:
                break
            out += b
        return out
    finally:
        s.close()
