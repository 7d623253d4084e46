//! A minimal NFQUEUE client over a raw netlink socket: bind a queue, receive packets in batches (recvmmsg),
//! and send verdicts in batches (many netlink messages in one send). Verdicts may be given in any order and
//! at any later time, which is what a delay line needs.
//!
//! Protocol: `linux/netfilter/nfnetlink_queue.h`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQNL_MSG_VERDICT_BATCH: u16 = 3;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_CFG_CMD_UNBIND: u8 = 2;
const NFQNL_COPY_PACKET: u8 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CAP_LEN: u16 = 13;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_NO_ENOBUFS: libc::c_int = 5;

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop = 0,
    Accept = 1,
}

/// One queued packet, as received.
#[derive(Debug)]
pub struct QueuedPacket<'a> {
    pub id: u32,
    /// The packet's bytes from its IP header, up to the copy range.
    pub payload: &'a [u8],
    /// The packet's full length (larger than `payload` when it was cut at the copy range).
    pub len: u32,
}

/// A bound queue.
pub struct Queue {
    fd: OwnedFd,
    queue_num: u16,
    batch: wotemu_sys::net::RecvBatch,
    out: Vec<u8>,
    out_count: usize,
    seq: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn put_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

/// Starts a netlink message: header (length patched by [`finish`]) and nfgenmsg.
fn begin(buf: &mut Vec<u8>, msg: u16, flags: u16, seq: u32, queue: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | msg).to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family AF_UNSPEC, version 0, res_id = queue number (big endian).
    buf.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    buf.extend_from_slice(&queue.to_be_bytes());
    start
}

fn finish(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Queue {
    /// Opens the netlink socket and binds queue `queue_num`. `copy_range` bytes of each packet are copied to
    /// userspace (enough for the headers; the whole packet when it must be changed or copied); at most
    /// `max_len` packets wait in the kernel for a verdict.
    pub fn open(queue_num: u16, copy_range: u32, max_len: u32, batch: usize) -> io::Result<Queue> {
        // SAFETY: socket(2); the descriptor is owned from here on.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_NETFILTER,
            )
        })?;
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        let one: libc::c_int = 1;
        let big: libc::c_int = 64 << 20;
        // SAFETY: setsockopt(2) with pointers to live c_ints.
        unsafe {
            // Root can exceed rmem_max; otherwise the plain option (capped) is the best there is.
            if libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &big as *const _ as *const libc::c_void,
                4,
            ) < 0
            {
                libc::setsockopt(
                    raw,
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    &big as *const _ as *const libc::c_void,
                    4,
                );
            }
            // Overruns are counted by the kernel (queue stats) instead of failing recv with ENOBUFS.
            libc::setsockopt(
                raw,
                SOL_NETLINK,
                NETLINK_NO_ENOBUFS,
                &one as *const _ as *const libc::c_void,
                4,
            );
        }
        // SAFETY: an all-zero sockaddr_nl is valid; bind(2) with its size.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        cvt(unsafe {
            libc::bind(
                raw,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        })?;
        let buf_size = copy_range as usize + 512;
        let mut q = Queue {
            fd,
            queue_num,
            batch: wotemu_sys::net::RecvBatch::new(batch.max(1), buf_size),
            out: Vec::with_capacity(64 << 10),
            out_count: 0,
            seq: 0,
        };
        // A queue left bound by a process that died is taken over: unbind first (an error is fine).
        if let Err(e) = q.config(|b| put_attr(b, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_UNBIND, 0, 0, 0])) {
            tracing::debug!(error = %e, "Nothing to unbind.");
        }
        q.config(|b| put_attr(b, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]))?;
        q.config(|b| {
            let mut p = copy_range.to_be_bytes().to_vec();
            p.push(NFQNL_COPY_PACKET);
            put_attr(b, NFQA_CFG_PARAMS, &p);
            put_attr(b, NFQA_CFG_QUEUE_MAXLEN, &max_len.to_be_bytes());
            // No flags: no fail-open (a full queue drops and the kernel counts it), no GSO (every
            // segment is its own packet, so loss and duplication are per packet, as on a real link).
            put_attr(b, NFQA_CFG_MASK, &0u32.to_be_bytes());
            put_attr(b, NFQA_CFG_FLAGS, &0u32.to_be_bytes());
        })?;
        Ok(q)
    }

    /// Sends one config message and waits for its acknowledgement.
    fn config(&mut self, attrs: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        self.seq += 1;
        let mut b = Vec::with_capacity(64);
        let s = begin(
            &mut b,
            NFQNL_MSG_CONFIG,
            NLM_F_ACK,
            self.seq,
            self.queue_num,
        );
        attrs(&mut b);
        finish(&mut b, s);
        self.send_raw(&b)?;
        // Wait for the ack (or error), skipping any packet messages that arrive meanwhile (there are
        // none before the bind completes).
        let mut buf = vec![0u8; 8192];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll(2) on one live descriptor.
            unsafe { libc::poll(&mut pfd, 1, 100) };
            // SAFETY: recv(2) into an owned buffer.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    if std::time::Instant::now() > deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no answer from nfnetlink_queue",
                        ));
                    }
                    continue;
                }
                return Err(e);
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
                if len < 16 || off + len > n {
                    break;
                }
                if ty == NLMSG_ERROR && seq == self.seq {
                    let code = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                off += align4(len);
            }
        }
    }

    fn send_raw(&self, b: &[u8]) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_nl addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        loop {
            // SAFETY: sendto(2) of an owned buffer to the kernel.
            let r = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    b.as_ptr() as *const libc::c_void,
                    b.len(),
                    0,
                    &addr as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as u32,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    let mut pfd = libc::pollfd {
                        fd: self.fd.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: poll(2) on one live descriptor.
                    unsafe { libc::poll(&mut pfd, 1, 10) };
                }
                _ => return Err(e),
            }
        }
    }

    /// Receives up to the batch size of packets without blocking; calls `f` for each. Returns how many
    /// datagrams were read (0: nothing waiting).
    pub fn recv_batch(&mut self, mut f: impl FnMut(QueuedPacket<'_>)) -> io::Result<usize> {
        let got = self.batch.recv(self.fd.as_raw_fd(), libc::MSG_DONTWAIT)?;
        for i in 0..got {
            parse_messages(self.batch.data(i), &mut f);
        }
        Ok(got)
    }

    /// Queues a verdict; sent by [`Queue::flush`] (or when the buffer fills). `payload` replaces the
    /// packet's bytes (same length) when given.
    pub fn verdict(&mut self, id: u32, v: Verdict, payload: Option<&[u8]>) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut out = std::mem::take(&mut self.out);
        let s = begin(&mut out, NFQNL_MSG_VERDICT, 0, self.seq, self.queue_num);
        let mut hdr = [0u8; 8];
        hdr[..4].copy_from_slice(&(v as u32).to_be_bytes());
        hdr[4..].copy_from_slice(&id.to_be_bytes());
        put_attr(&mut out, NFQA_VERDICT_HDR, &hdr);
        if let Some(p) = payload {
            put_attr(&mut out, NFQA_PAYLOAD, p);
        }
        finish(&mut out, s);
        self.out = out;
        self.out_count += 1;
        if self.out.len() > 48 << 10 {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues one verdict for every packet with an id up to `max_id` that is still waiting.
    pub fn verdict_batch(&mut self, max_id: u32, v: Verdict) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut out = std::mem::take(&mut self.out);
        let s = begin(
            &mut out,
            NFQNL_MSG_VERDICT_BATCH,
            0,
            self.seq,
            self.queue_num,
        );
        let mut hdr = [0u8; 8];
        hdr[..4].copy_from_slice(&(v as u32).to_be_bytes());
        hdr[4..].copy_from_slice(&max_id.to_be_bytes());
        put_attr(&mut out, NFQA_VERDICT_HDR, &hdr);
        finish(&mut out, s);
        self.out = out;
        self.out_count += 1;
        Ok(())
    }

    /// Sends the queued verdicts in one datagram.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.send_raw(&self.out);
        self.out.clear();
        self.out_count = 0;
        r
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Parses the netlink messages of one datagram, calling `f` for each queued packet.
fn parse_messages(buf: &[u8], f: &mut impl FnMut(QueuedPacket<'_>)) {
    let mut off = 0usize;
    while off + 20 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        if len < 20 || off + len > buf.len() {
            return;
        }
        if ty == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET {
            let mut id = None;
            let mut payload: &[u8] = &[];
            let mut cap_len = None;
            let mut a = off + 20;
            let end = off + len;
            while a + 4 <= end {
                let alen = u16::from_ne_bytes(buf[a..a + 2].try_into().unwrap()) as usize;
                let aty = u16::from_ne_bytes(buf[a + 2..a + 4].try_into().unwrap()) & 0x3fff;
                if alen < 4 || a + alen > end {
                    break;
                }
                let data = &buf[a + 4..a + alen];
                match aty {
                    NFQA_PACKET_HDR if data.len() >= 4 => {
                        id = Some(u32::from_be_bytes(data[..4].try_into().unwrap()))
                    }
                    NFQA_PAYLOAD => payload = data,
                    NFQA_CAP_LEN if data.len() >= 4 => {
                        cap_len = Some(u32::from_be_bytes(data[..4].try_into().unwrap()))
                    }
                    _ => {}
                }
                a += align4(alen);
            }
            if let Some(id) = id {
                let len = cap_len.unwrap_or(payload.len() as u32);
                f(QueuedPacket { id, payload, len });
            }
        }
        off += align4(len);
    }
}

/// The kernel's counters for a queue (`/proc/net/netfilter/nfnetlink_queue`): packets dropped because the
/// queue was full, and because the socket buffer was.
pub fn kernel_drops(queue_num: u16) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue").ok()?;
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 7 && f[0].parse::<u16>().ok() == Some(queue_num) {
            return Some((f[5].parse().ok()?, f[6].parse().ok()?));
        }
    }
    None
}
