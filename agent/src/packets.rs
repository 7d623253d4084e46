//! Counts the packets on the node's interfaces from an AF_PACKET socket, reading headers only.
//!
//! One `SOCK_RAW` socket of protocol `ETH_P_ALL` sees every frame of every interface of the network namespace,
//! both directions. Only the first 128 bytes of a frame are copied (`MSG_TRUNC` gives the real length). On
//! loopback, where the kernel shows each packet twice (outgoing and incoming), only the incoming copy counts.
//! The kernel's drop counter (`PACKET_STATISTICS`) is read every pass and reported as dropped packets.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::config::Ports;

/// The headers of one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `tcp`, `udp`, `icmp` or `other`.
    pub transport: &'static str,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
}

/// Parses an IP packet (v4 or v6) from its first bytes.
pub fn parse_ip(b: &[u8]) -> Option<Parsed> {
    let version = b.first()? >> 4;
    let (src, dst, proto, rest): (IpAddr, IpAddr, u8, &[u8]) = match version {
        4 => {
            let ihl = ((b[0] & 0x0f) as usize) * 4;
            if b.len() < 20 || ihl < 20 {
                return None;
            }
            let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
            let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
            let frag_offset = u16::from_be_bytes([b[6], b[7]]) & 0x1fff;
            let rest = if frag_offset == 0 {
                b.get(ihl..).unwrap_or(&[])
            } else {
                &[] // a later fragment has no transport header
            };
            (src.into(), dst.into(), b[9], rest)
        }
        6 => {
            if b.len() < 40 {
                return None;
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&b[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&b[24..40]).ok()?);
            (src.into(), dst.into(), b[6], &b[40..])
        }
        _ => return None,
    };
    let (transport, ports) = match proto {
        6 => ("tcp", true),
        17 => ("udp", true),
        1 | 58 => ("icmp", false),
        _ => ("other", false),
    };
    let (srcport, dstport) = if ports && rest.len() >= 4 {
        (
            Some(u16::from_be_bytes([rest[0], rest[1]])),
            Some(u16::from_be_bytes([rest[2], rest[3]])),
        )
    } else {
        (None, None)
    };
    Some(Parsed {
        src,
        dst,
        transport,
        srcport,
        dstport,
    })
}

/// The application protocol: the WoT protocol of either port, or the transport.
pub fn proto_of(p: &Parsed, ports: &Ports) -> String {
    p.dstport
        .and_then(|d| ports.proto_of(d))
        .or_else(|| p.srcport.and_then(|s| ports.proto_of(s)))
        .unwrap_or(p.transport)
        .to_owned()
}

const ETH_P_ALL: u16 = 0x0003;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const PACKET_OUTGOING: u8 = 4;

/// A packet as read from the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub iface: String,
    pub len: u32,
    pub parsed: Parsed,
}

/// An AF_PACKET socket on every interface.
pub struct Capture {
    fd: OwnedFd,
    names: HashMap<i32, String>,
    only: Vec<String>,
    buf: Vec<u8>,
    /// recvmmsg buffers: BATCH frames of SNAP bytes with their addresses.
    batch: wotemu_sys::net::RecvBatch,
}

/// Bytes copied of each frame (headers only).
const SNAP: usize = 128;
/// Frames read per system call at most.
const BATCH: usize = 64;

/// A classic BPF filter run by the kernel before a frame is queued to the socket: the loopback device's
/// outgoing copies (each loopback packet is seen twice) are dropped there instead of in userspace.
/// Without it (an old kernel) the same is done in userspace, only slower.
fn attach_filter(fd: &OwnedFd) {
    const SKF_AD_OFF: i32 = -0x1000;
    const SKF_AD_PKTTYPE: i32 = 4;
    const SKF_AD_HATYPE: i32 = 28;
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let mut prog = [
        ins(LD_W_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_HATYPE) as u32),
        ins(JEQ_K, 0, 2, ARPHRD_LOOPBACK as u32),
        ins(LD_W_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_PKTTYPE) as u32),
        ins(JEQ_K, 1, 0, PACKET_OUTGOING as u32),
        // The whole frame stays (so MSG_TRUNC reports its real length); only SNAP bytes are copied out.
        ins(RET_K, 0, 0, u32::MAX),
        ins(RET_K, 0, 0, 0),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: setsockopt(2) with a program that outlives the call (the kernel copies it).
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as u32,
        )
    };
    if r != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "no socket filter; filtering in userspace");
    }
}

impl Capture {
    /// Opens the socket (needs CAP_NET_RAW); `only` restricts to these interface names (empty: all);
    /// a receive waits up to `poll` for a packet (not zero: the socket would wait for ever).
    pub fn open(only: &[String], poll: Duration) -> std::io::Result<Capture> {
        // SAFETY: plain socket(2) call; the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                (ETH_P_ALL.to_be()) as i32,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a new, valid descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        debug_assert!(!poll.is_zero(), "a receive timeout of zero waits for ever");
        let tv = libc::timeval {
            tv_sec: poll.as_secs() as libc::time_t,
            tv_usec: poll.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: setsockopt with a timeval of the right size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            let size: libc::c_int = 4 << 20;
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        attach_filter(&fd);
        Ok(Capture {
            fd,
            names: HashMap::new(),
            only: only.to_vec(),
            buf: vec![0; SNAP],
            batch: wotemu_sys::net::RecvBatch::new(BATCH, SNAP),
        })
    }

    fn name(&mut self, ifindex: i32) -> String {
        if let Some(n) = self.names.get(&ifindex) {
            return n.clone();
        }
        let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: the buffer has IF_NAMESIZE bytes as if_indextoname requires.
        let p = unsafe { libc::if_indextoname(ifindex as u32, buf.as_mut_ptr()) };
        let name = if p.is_null() {
            format!("if{ifindex}")
        } else {
            // SAFETY: if_indextoname NUL-terminates the name on success.
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        };
        self.names.insert(ifindex, name.clone());
        name
    }

    /// Records packets of these interfaces under other names (interface → name: the Swarm network's name
    /// instead of `eth1`).
    pub fn name_interfaces(&mut self, names: &HashMap<String, String>) {
        for (iface, name) in names {
            let Ok(c) = std::ffi::CString::new(iface.as_str()) else {
                continue;
            };
            // SAFETY: a NUL-terminated name.
            let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
            if index > 0 {
                self.names.insert(index as i32, name.clone());
            }
        }
    }

    /// The next packet, `Ok(None)` after the receive timeout (`poll`) or for a frame that is not counted.
    pub fn recv(&mut self) -> std::io::Result<Option<Seen>> {
        // SAFETY: sockaddr_ll is plain data filled in by recvfrom.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut sl = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and sll are valid for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                libc::MSG_TRUNC,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut sl,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Ok(None),
                std::io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let wire_len = n as usize;
        let got = wire_len.min(self.buf.len());
        let frame = self.buf[..got].to_vec();
        Ok(self.classify(&sll, &frame, wire_len))
    }

    /// Reads up to 64 frames in one system call (waiting up to the receive timeout for the first) and calls `f` for each
    /// counted packet. Returns the number of frames read.
    pub fn recv_batch(&mut self, mut f: impl FnMut(Seen)) -> std::io::Result<usize> {
        let n = self
            .batch
            .recv(self.fd.as_raw_fd(), libc::MSG_TRUNC | libc::MSG_WAITFORONE)?;
        for i in 0..n {
            let sll = self.batch.link_addr(i);
            let wire_len = self.batch.wire_len(i);
            let mut frame = [0u8; SNAP];
            let data = self.batch.data(i);
            frame[..data.len()].copy_from_slice(data);
            if let Some(seen) = self.classify(&sll, &frame[..data.len()], wire_len) {
                f(seen);
            }
        }
        Ok(n)
    }

    fn classify(&mut self, sll: &libc::sockaddr_ll, frame: &[u8], wire_len: usize) -> Option<Seen> {
        let hatype = sll.sll_hatype;
        if hatype == ARPHRD_LOOPBACK && sll.sll_pkttype == PACKET_OUTGOING {
            return None;
        }
        let iface = self.name(sll.sll_ifindex);
        if !self.only.is_empty() && !self.only.contains(&iface) {
            return None;
        }
        let ip = match hatype {
            ARPHRD_ETHER | ARPHRD_LOOPBACK => {
                if frame.len() < 14 {
                    return None;
                }
                let mut et = u16::from_be_bytes([frame[12], frame[13]]);
                let mut off = 14;
                if et == ETH_P_8021Q && frame.len() >= 18 {
                    et = u16::from_be_bytes([frame[16], frame[17]]);
                    off = 18;
                }
                if et != ETH_P_IP && et != ETH_P_IPV6 {
                    return None;
                }
                &frame[off..]
            }
            _ => frame,
        };
        let parsed = parse_ip(ip)?;
        Some(Seen {
            iface,
            len: wire_len as u32,
            parsed,
        })
    }

    /// Packets the kernel dropped since the previous call (the socket's buffer was full).
    pub fn kernel_drops(&self) -> u64 {
        #[repr(C)]
        struct TpacketStats {
            tp_packets: u32,
            tp_drops: u32,
        }
        let mut st = TpacketStats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: PACKET_STATISTICS fills a tpacket_stats of the given size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut TpacketStats).cast(),
                &mut len,
            )
        };
        if r == 0 {
            st.tp_drops as u64
        } else {
            0
        }
    }
}

/// How long [`Capture::recv`] blocks at least before it says there was nothing.
pub const POLL: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_tcp_and_udp_headers() {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        let x = parse_ip(&p).unwrap();
        assert_eq!(x.src.to_string(), "10.0.0.1");
        assert_eq!(
            (x.transport, x.srcport, x.dstport),
            ("tcp", Some(40000), Some(80))
        );
        assert_eq!(proto_of(&x, &Ports::default()), "http");
        p[9] = 17;
        p[22..24].copy_from_slice(&5683u16.to_be_bytes());
        assert_eq!(proto_of(&parse_ip(&p).unwrap(), &Ports::default()), "coap");
        p[22..24].copy_from_slice(&53u16.to_be_bytes());
        assert_eq!(proto_of(&parse_ip(&p).unwrap(), &Ports::default()), "udp");
        // A later fragment has no ports.
        p[6] = 0x00;
        p[7] = 0x10;
        assert_eq!(parse_ip(&p).unwrap().srcport, None);
    }

    #[test]
    fn ipv6_icmp_and_garbage() {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[6] = 58;
        p[23] = 1;
        p[39] = 2;
        let x = parse_ip(&p).unwrap();
        assert_eq!(x.transport, "icmp");
        assert_eq!(x.src.to_string(), "::1");
        assert_eq!(parse_ip(&[0x45, 0, 0]), None);
        assert_eq!(parse_ip(&[]), None);
        assert_eq!(parse_ip(&[0x70; 60]), None);
    }
}
