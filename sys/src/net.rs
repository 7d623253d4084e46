//! Batched receives: up to N datagrams (or frames, or netlink messages) per `recvmmsg(2)` call, into
//! buffers owned by one [`RecvBatch`].

use std::io;
use std::os::fd::RawFd;

/// Buffers, their `iovec`s, message headers and source addresses for `recvmmsg`.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    addrs: Vec<libc::sockaddr_storage>,
    got: usize,
}

// SAFETY: the raw pointers inside `iovs` and `msgs` point into this struct's own heap buffers; they are set
// again before every call and never shared.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// `count` buffers of `size` bytes each.
    pub fn new(count: usize, size: usize) -> RecvBatch {
        RecvBatch {
            bufs: vec![vec![0u8; size]; count],
            iovs: Vec::with_capacity(count),
            // SAFETY: zeroed mmsghdr and sockaddr_storage are valid values (plain C data).
            msgs: (0..count).map(|_| unsafe { std::mem::zeroed() }).collect(),
            addrs: (0..count).map(|_| unsafe { std::mem::zeroed() }).collect(),
            got: 0,
        }
    }

    /// Receives up to `count` messages on `fd` with `flags` (`MSG_DONTWAIT`, `MSG_WAITFORONE`, `MSG_TRUNC`…).
    /// Returns how many arrived; 0 when none did (would block, timed out or interrupted).
    pub fn recv(&mut self, fd: RawFd, flags: libc::c_int) -> io::Result<usize> {
        self.iovs.clear();
        self.iovs.extend(self.bufs.iter_mut().map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        }));
        for ((m, iov), addr) in self
            .msgs
            .iter_mut()
            .zip(self.iovs.iter_mut())
            .zip(self.addrs.iter_mut())
        {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            m.msg_len = 0;
        }
        // SAFETY: recvmmsg(2) into headers whose pointers were set just above into buffers owned by self.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as u32,
                flags,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.got = 0;
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.got = n as usize;
        Ok(self.got)
    }

    /// Messages received by the last [`RecvBatch::recv`].
    pub fn len(&self) -> usize {
        self.got
    }

    /// Whether the last receive got nothing.
    pub fn is_empty(&self) -> bool {
        self.got == 0
    }

    /// The length of message `i` as the kernel reported it (with `MSG_TRUNC`, the full length on the wire).
    pub fn wire_len(&self, i: usize) -> usize {
        self.msgs[i].msg_len as usize
    }

    /// The bytes of message `i` that fit its buffer.
    pub fn data(&self, i: usize) -> &[u8] {
        let b = &self.bufs[i];
        &b[..self.wire_len(i).min(b.len())]
    }

    /// The source address of message `i` as a link-layer address (AF_PACKET sockets).
    pub fn link_addr(&self, i: usize) -> libc::sockaddr_ll {
        const _: () = assert!(
            std::mem::size_of::<libc::sockaddr_ll>()
                <= std::mem::size_of::<libc::sockaddr_storage>()
        );
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_ll; both are plain data.
        unsafe { std::ptr::read((&self.addrs[i] as *const libc::sockaddr_storage).cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn receives_several_datagrams_in_one_call() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for m in [&b"one"[..], b"two", b"a longer datagram"] {
            tx.send_to(m, rx.local_addr().unwrap()).unwrap();
        }
        let mut b = RecvBatch::new(8, 4);
        // The three are queued before the call; MSG_TRUNC gives their real lengths.
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = b
                .recv(rx.as_raw_fd(), libc::MSG_TRUNC | libc::MSG_WAITFORONE)
                .unwrap();
            got.extend((0..n).map(|i| (b.data(i).to_vec(), b.wire_len(i))));
        }
        assert_eq!(
            got,
            [
                (b"one".to_vec(), 3),
                (b"two".to_vec(), 3),
                (b"a lo".to_vec(), 17)
            ]
        );
        rx.set_nonblocking(true).unwrap();
        assert_eq!(b.recv(rx.as_raw_fd(), libc::MSG_DONTWAIT).unwrap(), 0);
        assert!(b.is_empty());
    }
}
