//! Raw map element operations (`BPF_MAP_*_ELEM`, `BPF_MAP_GET_NEXT_KEY`)
//! on byte-string keys and values, for maps whose layout only the schema
//! knows. Per-CPU maps read and write one value per possible CPU, each
//! padded to 8 bytes, as the kernel expects.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// `BPF_ANY`: create or overwrite.
pub const UPDATE_ANY: u64 = 0;

/// The `map_elem` arm of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn sys(cmd: libc::c_long, attr: &mut ElemAttr) -> io::Result<()> {
    // SAFETY: `attr` is a valid, initialised `bpf_attr` prefix of the size we
    // pass; the pointers in it point to buffers that outlive the call and are
    // as large as the map's key and value sizes (checked by the callers).
    let r = unsafe {
        libc::syscall(libc::SYS_bpf, cmd, attr as *mut ElemAttr as *mut libc::c_void, std::mem::size_of::<ElemAttr>())
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn attr(fd: BorrowedFd<'_>, key: *const u8, value: u64, flags: u64) -> ElemAttr {
    ElemAttr { map_fd: fd.as_raw_fd() as u32, _pad: 0, key: key as u64, value, flags }
}

/// Keyless maps (queues, stacks) take a NULL key; the kernel refuses any
/// other pointer for them.
fn key_ptr(key: &[u8]) -> *const u8 {
    if key.is_empty() { std::ptr::null() } else { key.as_ptr() }
}

/// The number of possible CPUs (the per-CPU value count).
pub fn possible_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let mut n = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                n += b.saturating_sub(a) + 1;
            }
            None => n += 1,
        }
    }
    n.max(1)
}

/// A map and the sizes its elements have.
#[derive(Clone, Copy, Debug)]
pub struct MapShape {
    pub key_size: usize,
    pub value_size: usize,
    pub per_cpu: bool,
}

impl MapShape {
    /// Bytes of one lookup result (all CPUs for a per-CPU map).
    pub fn value_buf_len(&self) -> usize {
        if self.per_cpu { self.cpu_stride() * possible_cpus() } else { self.value_size }
    }

    /// Bytes between two CPUs' values in a per-CPU lookup result (each is
    /// padded to 8).
    pub fn cpu_stride(&self) -> usize {
        self.value_size.div_ceil(8) * 8
    }

    /// Each CPU's value in a lookup result (the one value of a map that is
    /// not per CPU).
    pub fn cpu_values<'v>(&self, value: &'v [u8]) -> impl Iterator<Item = &'v [u8]> {
        let (stride, size) = if self.per_cpu { (self.cpu_stride(), self.value_size) } else { (value.len().max(1), value.len()) };
        value.chunks(stride).map(move |c| &c[..size.min(c.len())])
    }

    fn check(&self, key: &[u8], value: Option<&[u8]>) -> io::Result<()> {
        let bad = key.len() != self.key_size || value.is_some_and(|v| v.len() != self.value_buf_len());
        if bad { Err(io::Error::from_raw_os_error(libc::EINVAL)) } else { Ok(()) }
    }
}

pub fn update(fd: BorrowedFd<'_>, shape: MapShape, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    shape.check(key, Some(value))?;
    sys(BPF_MAP_UPDATE_ELEM, &mut attr(fd, key_ptr(key), value.as_ptr() as u64, flags))
}

/// Write the same value on every CPU of a per-CPU map (or once otherwise).
pub fn update_all_cpus(fd: BorrowedFd<'_>, shape: MapShape, key: &[u8], value: &[u8]) -> io::Result<()> {
    if !shape.per_cpu {
        return update(fd, shape, key, value, UPDATE_ANY);
    }
    let stride = shape.cpu_stride();
    let mut buf = vec![0u8; shape.value_buf_len()];
    for chunk in buf.chunks_mut(stride) {
        chunk[..value.len().min(stride)].copy_from_slice(&value[..value.len().min(stride)]);
    }
    update(fd, shape, key, &buf, UPDATE_ANY)
}

/// `BPF_F_LOCK`: copy a value under its `bpf_spin_lock`.
pub const LOOKUP_LOCKED: u64 = 4;

/// `Ok(None)` when the key is absent. On a queue map (an empty key) this
/// is a peek: the head, left in place; `Ok(None)` when the queue is empty.
pub fn lookup(fd: BorrowedFd<'_>, shape: MapShape, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
    lookup_with(fd, shape, key, 0)
}

/// [`lookup`] with flags ([`LOOKUP_LOCKED`]: a consistent copy of a value
/// that has a spin lock).
pub fn lookup_with(fd: BorrowedFd<'_>, shape: MapShape, key: &[u8], flags: u64) -> io::Result<Option<Vec<u8>>> {
    shape.check(key, None)?;
    let mut value = vec![0u8; shape.value_buf_len()];
    match sys(BPF_MAP_LOOKUP_ELEM, &mut attr(fd, key_ptr(key), value.as_mut_ptr() as u64, flags)) {
        Ok(()) => Ok(Some(value)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(false)` when the key was absent.
pub fn delete(fd: BorrowedFd<'_>, shape: MapShape, key: &[u8]) -> io::Result<bool> {
    shape.check(key, None)?;
    match sys(BPF_MAP_DELETE_ELEM, &mut attr(fd, key.as_ptr(), 0, 0)) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every key of a map (a snapshot; concurrent changes may skip or repeat
/// keys, as with any `GET_NEXT_KEY` walk).
pub fn keys(fd: BorrowedFd<'_>, shape: MapShape) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut next = vec![0u8; shape.key_size];
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let key_ptr = prev.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
        match sys(BPF_MAP_GET_NEXT_KEY, &mut attr(fd, key_ptr, next.as_mut_ptr() as u64, 0)) {
            Ok(()) => {
                out.push(next.clone());
                prev = Some(next.clone());
                if out.len() > 1 << 24 {
                    return Err(io::Error::other("map walk did not end"));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// Sum one little-endian u64 at `off` over every CPU's copy of a value.
pub fn sum_per_cpu_u64(shape: MapShape, value: &[u8], off: usize) -> u64 {
    shape
        .cpu_values(value)
        .filter_map(|c| c.get(off..off + 8))
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .fold(0u64, u64::wrapping_add)
}
