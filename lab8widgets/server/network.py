"""Addresses and ports: where ``serve`` listens, and how its kernels talk to it (Unix sockets)."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import tempfile


def port_free(ip: str, port: int) -> bool:
    """True when ``ip:port`` can be bound now (checked before Voila starts, so the error is clear)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def is_loopback(ip: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, "localhost")."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def exposure_warning(ip: str) -> str | None:
    """What ``serve`` prints before binding an address other machines can reach (None on loopback)."""
    if is_loopback(ip):
        return None
    return (
        f"lab8widgets: WARNING: serving on {ip}: anyone who can reach this port can open the labs "
        "and run code in their kernels, with no password. For a class on a network, give each "
        "learner a server of their own behind a login with JupyterHub "
        "(https://jupyterhub.readthedocs.io; see docs/classroom.md in lab8widgets); use --ip 127.0.0.1 (the default) "
        "to serve this machine only."
    )


def _ipc_fits(root: str) -> bool:
    """Whether Unix-socket paths under Voila's folder in ``root`` stay under ~104 bytes (macOS)."""
    return len(os.path.join(root, "voila_xxxxxxxx", f"kernel-{'x' * 36}-ipc-5")) < 100


def kernel_settings(connection_dir_root: str | None = None) -> list[str]:
    """How kernels talk to the server: over Unix sockets in Voila's private (0700) folder on POSIX.

    IPC keeps kernel traffic off the network stack altogether, which is also why ipykernel has no
    plain-text-TCP warning to print. When the temp folder's path is too long for a socket path
    (macOS), Voila's folder goes in /tmp; a folder given with ``--Voila.connection_dir_root`` that
    is too long falls back to TCP on loopback (and its warning).
    """
    if os.name != "posix":
        return ["--KernelManager.transport=tcp"]
    if connection_dir_root is not None:
        fits = _ipc_fits(connection_dir_root)
        return [f"--KernelManager.transport={'ipc' if fits else 'tcp'}"]
    if _ipc_fits(tempfile.gettempdir()):
        return ["--KernelManager.transport=ipc"]
    if os.access("/tmp", os.W_OK):
        return ["--KernelManager.transport=ipc", "--Voila.connection_dir_root=/tmp"]
    return ["--KernelManager.transport=tcp"]


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]
