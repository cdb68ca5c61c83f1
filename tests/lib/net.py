"""Small network helpers for tests and benchmarks."""
import socket


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (the caller binds it soon after; good enough on a test machine)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
