//! Throw-away test networks: a fresh network namespace and a veth pair between it and
//! the current namespace, addressed only from the benchmarking range 198.18.0.0/15.
//!
//! Everything shells out to `ip` (iproute2). A [`VethPair`] removes its namespace and
//! links when dropped, including while a failing test unwinds.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum NetError {
    #[error("`{command}` failed: {stderr}")]
    #[diagnostic(code(nfl::E0930))]
    Command { command: String, stderr: String },
    #[error("cannot run `ip`: {0}")]
    #[diagnostic(code(nfl::E0931), help("install iproute2"))]
    Spawn(#[source] std::io::Error),
    #[error("no free /24 left in 198.18.0.0/15")]
    #[diagnostic(code(nfl::E0932))]
    NoFreeSubnet,
    #[error("cannot enter network namespace {netns}: {source}")]
    #[diagnostic(code(nfl::E0933))]
    Setns {
        netns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the thread running inside network namespace {0} panicked")]
    #[diagnostic(code(nfl::E0934))]
    ThreadPanicked(String),
}

/// Run `ip` with `args`, optionally inside namespace `netns` (`ip -n NS ...`).
fn ip(netns: Option<&str>, args: &[&str]) -> Result<String, NetError> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.args(args);
    let out = cmd.output().map_err(NetError::Spawn)?;
    if !out.status.success() {
        let mut command = String::from("ip");
        if let Some(ns) = netns {
            command.push_str(&format!(" -n {ns}"));
        }
        for a in args {
            command.push(' ');
            command.push_str(a);
        }
        return Err(NetError::Command {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The /24 subnets of 198.18.0.0/15, as (second octet, third octet).
fn subnets() -> impl Iterator<Item = (u8, u8)> {
    [18u8, 19]
        .into_iter()
        .flat_map(|b| (0..=255u8).map(move |c| (b, c)))
}

/// Pick a /24 of 198.18.0.0/15 that no address in the current namespace uses.
fn free_subnet() -> Result<(u8, u8), NetError> {
    let used = ip(None, &["-4", "-o", "addr", "show"])?;
    subnets()
        .find(|(b, c)| !used.contains(&format!(" 198.{b}.{c}.")))
        .ok_or(NetError::NoFreeSubnet)
}

/// Serialises subnet choice and creation within this process, so parallel tests do
/// not pick the same subnet.
static CREATE_LOCK: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair: `host_if` stays in the current namespace
/// with `host_addr`/24, `ns_if` lives in namespace `netns` with `ns_addr`/24. Both
/// ends are up, as is `lo` in the namespace.
#[derive(Debug)]
pub struct VethPair {
    pub netns: String,
    pub host_if: String,
    pub ns_if: String,
    pub host_addr: Ipv4Addr,
    pub ns_addr: Ipv4Addr,
    pub prefix_len: u8,
    /// Whether `host_if` is in `netns` too (see [`VethOptions::both_in_netns`]).
    pub host_in_netns: bool,
    /// What exists and must be removed on drop.
    created_netns: bool,
    created_link: bool,
}

/// How [`VethPair::with_options`] builds a pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VethOptions {
    /// Both ends live in the new namespace, so nothing in the caller's namespace
    /// (no daemon, no firewall) sees or touches them.
    pub both_in_netns: bool,
    /// Keep the kernel from sending frames of its own on the pair: IPv6 off on
    /// both ends (no DAD, router solicitations or MLD reports) and no ARP
    /// replies (`arp_ignore=8`). Injected frames then meet only silence.
    pub quiet: bool,
}

impl VethPair {
    /// Create the namespace `nfl-<pid>-<n>` and the pair `nfl<pid>h<n>` (here) /
    /// `nfl<pid>n<n>` (there), addressed 198.18.x.1/24 and 198.18.x.2/24 (or 198.19.x.*)
    /// on a /24 nobody here uses yet.
    pub fn new() -> Result<VethPair, NetError> {
        VethPair::with_options(VethOptions::default())
    }

    /// [`VethPair::new`], built as `opts` asks.
    pub fn with_options(opts: VethOptions) -> Result<VethPair, NetError> {
        let _guard = CREATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let (b, c) = free_subnet()?;
        let mut pair = VethPair {
            netns: format!("nfl-{pid}-{n}"),
            host_if: short_ifname(pid, 'h', n),
            ns_if: short_ifname(pid, 'n', n),
            host_addr: Ipv4Addr::new(198, b, c, 1),
            ns_addr: Ipv4Addr::new(198, b, c, 2),
            prefix_len: 24,
            host_in_netns: opts.both_in_netns,
            created_netns: false,
            created_link: false,
        };
        // On any error below, dropping `pair` removes what was created so far.
        ip(None, &["netns", "add", &pair.netns])?;
        pair.created_netns = true;
        let host_ns = pair.host_netns().map(str::to_string);
        let host_ns = host_ns.as_deref();
        let (h, n, ns) = (&pair.host_if, &pair.ns_if, &pair.netns);
        ip(host_ns, &["link", "add", h, "type", "veth", "peer", "name", n, "netns", ns])?;
        pair.created_link = true;
        if opts.quiet {
            pair.silence()?;
        }
        let host_cidr = format!("{}/{}", pair.host_addr, pair.prefix_len);
        let ns_cidr = format!("{}/{}", pair.ns_addr, pair.prefix_len);
        ip(host_ns, &["addr", "add", &host_cidr, "dev", &pair.host_if])?;
        ip(host_ns, &["link", "set", "dev", &pair.host_if, "up"])?;
        ip(
            Some(&pair.netns),
            &["addr", "add", &ns_cidr, "dev", &pair.ns_if],
        )?;
        ip(
            Some(&pair.netns),
            &["link", "set", "dev", &pair.ns_if, "up"],
        )?;
        ip(Some(&pair.netns), &["link", "set", "dev", "lo", "up"])?;
        pair.wait_until_up()?;
        Ok(pair)
    }

    /// Wait (at most ~2 s) until both ends report operational state UP: a veth
    /// silently drops what is sent before its peer is up.
    fn wait_until_up(&self) -> Result<(), NetError> {
        let is_up = |netns, dev: &str| {
            ip(netns, &["-br", "link", "show", "dev", dev]).is_ok_and(|s| s.split_whitespace().nth(1) == Some("UP"))
        };
        for _ in 0..200 {
            if is_up(self.host_netns(), &self.host_if) && is_up(Some(&self.netns), &self.ns_if) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(NetError::Command {
            command: format!("waiting for {} and {} to come up", self.host_if, self.ns_if),
            stderr: "timed out after 2 s".to_string(),
        })
    }

    /// The namespace of the host end: `None` for the caller's.
    pub fn host_netns(&self) -> Option<&str> {
        self.host_in_netns.then_some(self.netns.as_str())
    }

    /// Set the sysctls of [`VethOptions::quiet`] on both ends, before they are up.
    fn silence(&self) -> Result<(), NetError> {
        let (host, ns) = (self.host_if.clone(), self.ns_if.clone());
        if self.host_in_netns {
            self.run_in_ns(move || quiet_sysctls(&[&host, &ns]))?
        } else {
            quiet_sysctls(&[&host])?;
            self.run_in_ns(move || quiet_sysctls(&[&ns]))?
        }
    }

    /// `ip -d link show` of the host end.
    pub fn show_host(&self) -> Result<String, NetError> {
        ip(self.host_netns(), &["-d", "link", "show", "dev", &self.host_if])
    }

    /// `ip -d link show` of the namespace end.
    pub fn show_ns(&self) -> Result<String, NetError> {
        ip(
            Some(&self.netns),
            &["-d", "link", "show", "dev", &self.ns_if],
        )
    }

    /// Run `f` on a thread that has entered this pair's namespace; sockets it opens
    /// live there. The calling thread stays where it is.
    pub fn run_in_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
        run_in_netns(&self.netns, f)
    }
}

/// Interface names are limited to 15 bytes: `nfl` + pid + role + counter fits.
fn short_ifname(pid: u32, role: char, n: u32) -> String {
    let name = format!("nfl{pid}{role}{n}");
    if name.len() <= 15 {
        name
    } else {
        // Keep the tail of the pid, which varies the most.
        format!("nfl{}{role}{}", pid % 1_000_000, n % 1000)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting one end of a veth deletes both; deleting the namespace would too,
        // but the host end is removed explicitly in case the peer already moved.
        if self.created_link {
            let _ = ip(self.host_netns(), &["link", "del", "dev", &self.host_if]);
        }
        if self.created_netns {
            let _ = ip(None, &["netns", "del", &self.netns]);
        }
    }
}

/// Write the sysctls of [`VethOptions::quiet`] for `ifaces` in the calling
/// thread's namespace. Without IPv6 in the kernel there is nothing to turn off.
fn quiet_sysctls(ifaces: &[&str]) -> Result<(), NetError> {
    for dev in ifaces {
        let v6 = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
        let arp = format!("/proc/sys/net/ipv4/conf/{dev}/arp_ignore");
        for (path, value) in [(v6, "1"), (arp, "8")] {
            match std::fs::write(&path, value) {
                Err(e) if !(e.kind() == std::io::ErrorKind::NotFound && path.contains("ipv6")) => {
                    return Err(NetError::Command { command: format!("echo {value} > {path}"), stderr: e.to_string() });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Run `f` on a new thread inside the named namespace (`/run/netns/<netns>`).
pub fn run_in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
    use std::os::fd::AsRawFd;
    let path = Path::new("/run/netns").join(netns);
    let file = std::fs::File::open(&path).map_err(|source| NetError::Setns {
        netns: netns.to_string(),
        source,
    })?;
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            // SAFETY: `file` is an open namespace file; setns only changes the network
            // namespace of this (new, short-lived) thread.
            let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if ret != 0 {
                return Err(NetError::Setns {
                    netns: netns.to_string(),
                    source: std::io::Error::last_os_error(),
                });
            }
            Ok(f())
        });
        handle
            .join()
            .unwrap_or_else(|_| Err(NetError::ThreadPanicked(netns.to_string())))
    })
}

/// Attach the program in section `section` of the object file at `obj_path` to `dev`
/// in the current namespace, through iproute2's own loader:
/// `ip link set dev DEV xdp obj FILE sec SECTION`.
pub fn attach_xdp_with_ip(dev: &str, obj_path: &Path, section: &str) -> Result<(), NetError> {
    attach_xdp_with_ip_in(None, dev, obj_path, section)
}

/// [`attach_xdp_with_ip`] inside namespace `netns` (`ip -n NS ...`) when given.
pub fn attach_xdp_with_ip_in(
    netns: Option<&str>,
    dev: &str,
    obj_path: &Path,
    section: &str,
) -> Result<(), NetError> {
    // iproute2 pins maps under bpffs; make sure it is there, like the rest of the runtime.
    let _ = crate::kernel::ensure_bpffs();
    let obj = obj_path.to_string_lossy();
    ip(
        netns,
        &[
            "link", "set", "dev", dev, "xdp", "obj", &obj, "sec", section,
        ],
    )
    .map(drop)
}

/// Detach any XDP program from `dev`: `ip link set dev DEV xdp off`.
pub fn detach_xdp_with_ip(dev: &str) -> Result<(), NetError> {
    detach_xdp_with_ip_in(None, dev)
}

pub fn detach_xdp_with_ip_in(netns: Option<&str>, dev: &str) -> Result<(), NetError> {
    ip(netns, &["link", "set", "dev", dev, "xdp", "off"]).map(drop)
}

/// The id of the XDP program attached to `dev`, from `ip -d link show`
/// (`prog/xdp id N`), or `None` when there is none.
pub fn xdp_prog_id(netns: Option<&str>, dev: &str) -> Result<Option<u32>, NetError> {
    let out = ip(netns, &["-d", "link", "show", "dev", dev])?;
    Ok(parse_xdp_prog_id(&out))
}

fn parse_xdp_prog_id(ip_link_show: &str) -> Option<u32> {
    let mut words = ip_link_show.split_whitespace();
    while let Some(w) = words.next() {
        if w.starts_with("prog/xdp") && words.next() == Some("id") {
            return words.next().and_then(|id| id.parse().ok());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prog_id_is_parsed_from_ip_link_show() {
        let out = "7: nfl1h0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 xdpgeneric/id:42 qdisc noqueue\n    \
                   link/ether 6a:be:9b:4e:1f:22 brd ff:ff:ff:ff:ff:ff link-netns nfl-1-0 promiscuity 0\n    \
                   prog/xdp id 42 name drop_ipv4 tag 1f5e3ab7d1d5e2f1 jited \n";
        assert_eq!(parse_xdp_prog_id(out), Some(42));
        assert_eq!(parse_xdp_prog_id("3: eth0: <UP> mtu 1500\n"), None);
    }

    #[test]
    fn interface_names_fit() {
        assert_eq!(short_ifname(4_194_304, 'h', 12), "nfl4194304h12");
        assert!(short_ifname(u32::MAX, 'n', u32::MAX).len() <= 15);
    }

    #[test]
    fn subnets_stay_in_the_benchmark_range() {
        let all: Vec<_> = subnets().collect();
        assert_eq!(all.len(), 512);
        assert!(all.iter().all(|(b, _)| *b == 18 || *b == 19));
    }
}
