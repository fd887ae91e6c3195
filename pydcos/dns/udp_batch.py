"""The UDP listener on Linux: up to 64 datagrams per system call each way (recvmmsg, sendmmsg).

Why hand-written: an asyncio datagram protocol (even on uvloop) makes two system calls and one
Python callback per query, and stays at about two thirds of dnsmasq's rate on one core
(benchmarks/dns_qps.py). Batching the system calls closes most of the gap. The calls go through
ctypes into the C library; everything else is the same as `server.UdpListener`: precomputed
answers are copied straight into the send batch, anything else goes to `QueryHandler.handle`,
whose replies leave by a plain `sendto`.

Used only where it is known to work (Linux, 64-bit, IPv4 socket, `recvmmsg` in libc); the service
falls back to `UdpListener` otherwise, or when `DnsConfig.udp_batch` is off.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import socket
import sys

from pydcos.core.log import get_logger
from pydcos.dns.resolver import MAX_QUERY_SIZE
from pydcos.dns.server import QueryHandler

log = get_logger("pydcos.dns.udp_batch")

SLOTS = 64
RECV_SLOT = MAX_QUERY_SIZE + 1  # a longer datagram arrives cut to this, and the resolver FORMERRs it
SEND_SLOT = 2048  # larger than any UDP answer the fast path gives (wire.EDNS_UDP_LIMIT)
NAME_SLOT = 16  # sockaddr_in
MSG_DONTWAIT = 0x40
# Batches per readiness callback: bounds the time other work on the loop waits.
MAX_BATCHES = 16


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        recv, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    recv.restype = ctypes.c_int
    send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    send.restype = ctypes.c_int
    return libc


_LIBC = _libc()


def available(sock: socket.socket) -> bool:
    return _LIBC is not None and sock.family == socket.AF_INET


class BatchUdpListener:
    """Owns `sock` once started; every buffer the kernel writes to is allocated here and kept."""

    def __init__(self, sock: socket.socket, handler: QueryHandler) -> None:
        assert _LIBC is not None
        self.sock = sock
        self.handler = handler
        self._recvmmsg = _LIBC.recvmmsg
        self._sendmmsg = _LIBC.sendmmsg
        self._recv_data = ctypes.create_string_buffer(SLOTS * RECV_SLOT)
        self._send_data = ctypes.create_string_buffer(SLOTS * SEND_SLOT)
        self._names = ctypes.create_string_buffer(SLOTS * NAME_SLOT)
        self._recv_iov = (_Iovec * SLOTS)()
        self._send_iov = (_Iovec * SLOTS)()
        self._recv_msgs = (_Mmsghdr * SLOTS)()
        self._send_msgs = (_Mmsghdr * SLOTS)()
        names = ctypes.addressof(self._names)
        for i in range(SLOTS):
            self._recv_iov[i].iov_base = ctypes.addressof(self._recv_data) + i * RECV_SLOT
            self._recv_iov[i].iov_len = RECV_SLOT
            self._send_iov[i].iov_base = ctypes.addressof(self._send_data) + i * SEND_SLOT
            hdr = self._recv_msgs[i].msg_hdr
            hdr.msg_name, hdr.msg_namelen = names + i * NAME_SLOT, NAME_SLOT
            hdr.msg_iov, hdr.msg_iovlen = ctypes.pointer(self._recv_iov[i]), 1
            out = self._send_msgs[i].msg_hdr
            out.msg_iov, out.msg_iovlen = ctypes.pointer(self._send_iov[i]), 1
        # Plain memory views over the same buffers: indexing them is far cheaper than ctypes fields.
        size = ctypes.sizeof(_Mmsghdr)
        recv_raw = memoryview((ctypes.c_char * (SLOTS * size)).from_buffer(self._recv_msgs)).cast("B")
        send_raw = memoryview((ctypes.c_char * (SLOTS * size)).from_buffer(self._send_msgs)).cast("B")
        iov_raw = memoryview((ctypes.c_char * ctypes.sizeof(self._send_iov)).from_buffer(self._send_iov)).cast("B")
        self._recv_u32 = recv_raw.cast("I")
        self._send_u32 = send_raw.cast("I")
        self._send_u64 = send_raw.cast("Q")
        self._iov_u64 = iov_raw.cast("Q")
        self._recv_view = memoryview(self._recv_data).cast("B")
        self._send_view = memoryview(self._send_data).cast("B")
        self._names_view = memoryview(self._names).cast("B")
        self._stride32 = size // 4
        self._stride64 = size // 8
        self._len_at = _Mmsghdr.msg_len.offset // 4
        self._namelen_at = _Msghdr.msg_namelen.offset // 4
        self._name_ptr_at = _Msghdr.msg_name.offset // 8
        self._iov_stride64 = ctypes.sizeof(_Iovec) // 8
        self._iov_len_at = _Iovec.iov_len.offset // 8
        self._names_base = names
        self._recv_ptr = ctypes.addressof(self._recv_msgs)
        self._send_ptr = ctypes.addressof(self._send_msgs)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self.sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()

    def _readable(self) -> None:
        try:
            for _ in range(MAX_BATCHES):
                if self._batch() < SLOTS:
                    return
        except Exception:  # the edge of a batch: our bug must not stop the listener
            self.handler.counters.unhandled_errors += 1
            log.exception("udp_batch_failed")

    def _batch(self) -> int:
        fd = self.sock.fileno()
        count = self._recvmmsg(fd, self._recv_ptr, SLOTS, MSG_DONTWAIT, None)
        if count <= 0:
            return 0
        answer = self.handler.fast.answer
        recv_u32, recv_view, send_view = self._recv_u32, self._recv_view, self._send_view
        stride32, len_at, namelen_at = self._stride32, self._len_at, self._namelen_at
        out = 0
        for i in range(count):
            start = i * RECV_SLOT
            data = bytes(recv_view[start:start + recv_u32[i * stride32 + len_at]])
            reply = answer(data)
            if reply is None:
                self._slow(data, i)
                continue
            at = out * SEND_SLOT
            send_view[at:at + len(reply)] = reply
            self._iov_u64[out * self._iov_stride64 + self._iov_len_at] = len(reply)
            self._send_u64[out * self._stride64 + self._name_ptr_at] = self._names_base + i * NAME_SLOT
            self._send_u32[out * stride32 + namelen_at] = recv_u32[i * stride32 + namelen_at]
            out += 1
        self.handler.counters.fast += out
        sent = 0
        while sent < out:
            done = self._sendmmsg(fd, self._send_ptr + sent * ctypes.sizeof(_Mmsghdr), out - sent, 0)
            if done <= 0:  # the send buffer is full: drop the rest, as a busy UDP server must
                self.handler.counters.dropped += out - sent
                break
            sent += done
        return int(count)

    def _slow(self, data: bytes, slot: int) -> None:
        name = bytes(self._names_view[slot * NAME_SLOT:slot * NAME_SLOT + 8])
        addr = (socket.inet_ntoa(name[4:8]), int.from_bytes(name[2:4], "big"))
        self.handler.handle(data, lambda out: self._send(out, addr), udp=True, fast_tried=True)

    def _send(self, out: bytes, addr: tuple[str, int]) -> None:
        if self._loop is None:
            return
        try:
            self.sock.sendto(out, addr)
        except OSError:
            self.handler.counters.dropped += 1
