//! The engine's memory model and its calling convention: the contract
//! between the interpreter, the Cranelift JIT, helpers and kfuncs.
//!
//! **Addresses are virtual.** A value the program holds as a pointer is
//! `region << 32 | offset`. Every region is a row of [`VmCtx::regions`]: a
//! host base and the offsets `[lo, hi)` that may be touched. An access of
//! `size` bytes at `addr` is allowed when `region < nregions` and
//! `lo <= offset && offset + size <= hi`; it then touches host memory at
//! `base + offset`. Anything else goes to [`Vm::slow_access`], which
//! serves the context (whose loads the kernel rewrites) and reports every
//! other access as a [`Fault`]. Pointer arithmetic that leaves a region
//! changes the region number or lands outside `[lo, hi)`, so no program
//! can reach host memory it was not given.
//!
//! Fixed regions: [`REGION_NULL`], [`REGION_CTX`], [`REGION_PKT`] (the
//! packet: `[data, data_end)` of a buffer with headroom), one stack frame
//! per call depth (`REGION_STACK0 + depth`, 512 bytes each, the last one
//! for callbacks that helpers and kfuncs invoke), [`REGION_FUNC`] (a
//! callback's value is `REGION_FUNC << 32 | insn index`) and [`REGION_MAP`]
//! (a map's value is `REGION_MAP << 32 | map index`). Map values, global
//! data and allocated objects get regions on demand, sized to the value.

use std::collections::HashMap;

/// The null pointer's region: no memory.
pub const REGION_NULL: u32 = 0;
/// The context (`struct xdp_md` or `struct __sk_buff`): served by the slow
/// path only, as the kernel rewrites its loads.
pub const REGION_CTX: u32 = 1;
/// The packet, `[data, data_end)`.
pub const REGION_PKT: u32 = 2;
/// Stack frame of call depth 0; depth `d` is `REGION_STACK0 + d`.
pub const REGION_STACK0: u32 = 3;
/// The kernel's limit on nested bpf-to-bpf calls (`MAX_CALL_FRAMES`).
pub const MAX_FRAMES: u32 = 8;
/// The frame helpers and kfuncs run callbacks in.
pub const CALLBACK_FRAME: u32 = MAX_FRAMES;
/// Callbacks: `REGION_FUNC << 32 | instruction index`; no memory.
pub const REGION_FUNC: u32 = REGION_STACK0 + MAX_FRAMES + 1;
/// Maps: `REGION_MAP << 32 | map index`; no memory.
pub const REGION_MAP: u32 = REGION_FUNC + 1;
/// The first region handed out on demand.
pub const REGION_DYN: u32 = REGION_MAP + 1;
/// Bytes of one stack frame.
pub const STACK_SIZE: u64 = 512;

/// `VmCtx::abort` values.
pub const ABORT_NONE: u64 = 0;
/// A fault was recorded in [`Vm::fault`]: unwind at once.
pub const ABORT_FAULT: u64 = 1;
/// `bpf_tail_call` succeeded: unwind; the run continues in
/// [`Vm::tail_target`].
pub const ABORT_TAIL: u64 = 2;

/// Helper ids at or above this are kfuncs: `KFUNC_BASE + index` into
/// [`crate::engine::kfuncs::KFUNCS`].
pub const KFUNC_BASE: u64 = 1 << 20;

/// Makes a virtual address.
pub const fn vaddr(region: u32, offset: u32) -> u64 {
    (region as u64) << 32 | offset as u64
}

/// The region of a virtual address.
pub const fn region_of(addr: u64) -> u32 {
    (addr >> 32) as u32
}

/// The offset of a virtual address within its region.
pub const fn offset_of(addr: u64) -> u32 {
    addr as u32
}

/// The virtual frame pointer (`r10`) of call depth `depth`.
pub const fn frame_pointer(depth: u32) -> u64 {
    vaddr(REGION_STACK0 + depth, STACK_SIZE as u32)
}

/// One row of the region table (layout read by JIT code).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub base: *mut u8,
    pub lo: u64,
    pub hi: u64,
}

impl Region {
    pub const EMPTY: Region = Region { base: std::ptr::null_mut(), lo: 0, hi: 0 };
}

/// Byte offsets of [`VmCtx`] fields, for generated code.
pub const VMCTX_REGIONS: i32 = 0;
pub const VMCTX_NREGIONS: i32 = 8;
pub const VMCTX_ABORT: i32 = 16;
pub const VMCTX_STACK: i32 = 24;
/// Byte offsets of [`Region`] fields and its size.
pub const REGION_BASE: i32 = 0;
pub const REGION_LO: i32 = 8;
pub const REGION_HI: i32 = 16;
pub const REGION_SIZE: i64 = 24;

/// What generated code reads on every access: the first field of [`Vm`].
#[repr(C)]
pub struct VmCtx {
    /// The region table (refreshed whenever a region is added).
    pub regions: *const Region,
    pub nregions: u64,
    /// `ABORT_*`: checked after every call out of generated code.
    pub abort: u64,
    /// Host base of frame 0; depth `d` is at `stack + d * 512`.
    pub stack: *mut u8,
}

/// Signature of a compiled eBPF function: `(vm, depth, r1..r5) -> r0`.
/// `depth` is the call depth, which names the stack frame.
pub type JitFn = unsafe extern "C" fn(*mut VmCtx, u64, u64, u64, u64, u64, u64) -> u64;

/// What runs eBPF functions for a program (the interpreter or its JIT
/// code): helpers and kfuncs use it to invoke callbacks.
pub trait Runner {
    /// Run the function starting at instruction `target` in frame `depth`
    /// with `r1..r5`; its `r0`, or anything once `abort` is set.
    ///
    /// # Safety
    /// `vm` must point to a live [`Vm`] that nothing else uses meanwhile.
    unsafe fn call(&self, vm: *mut Vm, target: u32, depth: u32, args: [u64; 5]) -> u64;
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load or store outside every region it may touch.
    OutOfBounds { addr: u64, size: u32, store: bool },
    /// A context field the engine does not provide.
    BadContext { offset: u32, size: u32, store: bool },
    /// Nesting deeper than [`MAX_FRAMES`].
    CallDepth,
    /// A helper the engine does not implement, or called wrongly.
    Helper { id: u64, message: String },
    /// An instruction the engine does not run.
    BadInsn { message: String },
    /// More instructions than the run's budget (interpreter) or a tail-call
    /// chain longer than the kernel's 33.
    Limit { message: String },
}

/// A fault and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Instruction index within the program's linked code.
    pub pc: u32,
    pub kind: FaultKind,
}

/// Host memory behind the fixed regions, owned by the VM.
pub struct Frames {
    stack: Box<[u8]>,
}

impl Frames {
    fn new() -> Frames {
        Frames {
            stack: vec![0u8; ((MAX_FRAMES + 1) as u64 * STACK_SIZE) as usize].into_boxed_slice(),
        }
    }
}

/// The region table and its bookkeeping.
pub struct Regions {
    table: Vec<Region>,
    /// Rows below this survive between runs (fixed and global data).
    persistent: usize,
    /// (host base, hi) to row, for rows handed out during this run.
    by_host: HashMap<(usize, u64), u32>,
}

impl Regions {
    fn new() -> Regions {
        let mut table = vec![Region::EMPTY; REGION_DYN as usize];
        table[REGION_CTX as usize] = Region::EMPTY;
        Regions { table, persistent: REGION_DYN as usize, by_host: HashMap::new() }
    }

    pub fn get(&self, region: u32) -> Option<&Region> {
        self.table.get(region as usize)
    }

    pub fn set(&mut self, region: u32, r: Region) {
        self.table[region as usize] = r;
    }

    /// A region over `len` bytes at `base`; the same row again for the same
    /// memory within one run.
    pub fn add(&mut self, base: *mut u8, len: u64) -> u32 {
        let key = (base as usize, len);
        if let Some(&id) = self.by_host.get(&key) {
            return id;
        }
        let id = self.table.len() as u32;
        self.table.push(Region { base, lo: 0, hi: len });
        self.by_host.insert(key, id);
        id
    }

    /// A region that outlives runs (global data).
    pub fn add_persistent(&mut self, base: *mut u8, len: u64) -> u32 {
        debug_assert_eq!(self.table.len(), self.persistent);
        let id = self.table.len() as u32;
        self.table.push(Region { base, lo: 0, hi: len });
        self.persistent += 1;
        id
    }

    /// Forget the rows of the last run.
    pub fn reset(&mut self) {
        self.table.truncate(self.persistent);
        self.by_host.clear();
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn as_ptr(&self) -> *const Region {
        self.table.as_ptr()
    }

    /// The host bytes `[addr, addr + len)` if the region allows them.
    pub fn host(&self, addr: u64, len: u64) -> Option<*mut u8> {
        let r = self.get(region_of(addr))?;
        let off = u64::from(offset_of(addr));
        (off >= r.lo && off.checked_add(len)? <= r.hi && !r.base.is_null())
            // SAFETY: `off < hi`, and every row's `[lo, hi)` lies within the
            // allocation its `base` points into.
            .then(|| unsafe { r.base.add(off as usize) })
    }
}

/// The per-engine state generated code and helpers share. `ctx` must stay
/// the first field: generated code gets `*mut VmCtx` and helpers cast it
/// back to `*mut Vm`.
#[repr(C)]
pub struct Vm {
    pub ctx: VmCtx,
    pub regions: Regions,
    pub frames: Frames,
    /// The fault that set `ABORT_FAULT`.
    pub fault: Option<Fault>,
    /// The program a successful tail call continues in.
    pub tail_target: Option<usize>,
    /// Everything helpers and kfuncs need (maps, packet, clock, ...).
    pub env: crate::engine::env::Env,
    /// The running program's code, for callbacks (set for each run).
    pub runner: Option<*const dyn Runner>,
    /// The running program's instruction count (callback targets are
    /// checked against it).
    pub code_len: u32,
}

impl Vm {
    pub fn new(env: crate::engine::env::Env) -> Box<Vm> {
        let mut vm = Box::new(Vm {
            ctx: VmCtx {
                regions: std::ptr::null(),
                nregions: 0,
                abort: ABORT_NONE,
                stack: std::ptr::null_mut(),
            },
            regions: Regions::new(),
            frames: Frames::new(),
            fault: None,
            tail_target: None,
            env,
            runner: None,
            code_len: 0,
        });
        let stack = vm.frames.stack.as_mut_ptr();
        vm.ctx.stack = stack;
        for d in 0..=MAX_FRAMES {
            // SAFETY: `d * 512` is within the (MAX_FRAMES + 1) * 512 bytes.
            let base = unsafe { stack.add((u64::from(d) * STACK_SIZE) as usize) };
            vm.regions.set(REGION_STACK0 + d, Region { base, lo: 0, hi: STACK_SIZE });
        }
        vm.sync();
        vm
    }

    /// Publish the region table to generated code (after any change).
    pub fn sync(&mut self) {
        self.ctx.regions = self.regions.as_ptr();
        self.ctx.nregions = self.regions.len() as u64;
    }

    /// Record a fault and make generated code unwind.
    pub fn raise(&mut self, pc: u32, kind: FaultKind) {
        if self.fault.is_none() {
            self.fault = Some(Fault { pc, kind });
        }
        self.ctx.abort = ABORT_FAULT;
    }

    /// A new region for host memory a helper hands the program.
    pub fn expose(&mut self, base: *mut u8, len: u64) -> u64 {
        let id = self.regions.add(base, len);
        self.sync();
        vaddr(id, 0)
    }

    /// Forget the last run's regions and fault. The frames keep their
    /// bytes, as the kernel's stack does between runs (a program reading
    /// its stack before writing it reads what the last run left: memory
    /// of its own, never the host's).
    pub fn begin_run(&mut self) {
        self.regions.reset();
        self.fault = None;
        self.tail_target = None;
        self.ctx.abort = ABORT_NONE;
        self.sync();
    }

    /// Call the callback at virtual address `func` (`REGION_FUNC << 32 |
    /// insn`) with `args`, in the callback frame. A bad address is a fault.
    pub fn invoke(&mut self, pc: u32, func: u64, args: [u64; 5]) -> u64 {
        let target = offset_of(func);
        let Some(runner) = self.runner.filter(|_| region_of(func) == REGION_FUNC && target < self.code_len) else {
            self.raise(pc, FaultKind::Helper { id: 0, message: format!("callback {func:#x} is not a function of this program") });
            return 0;
        };
        let me: *mut Vm = self;
        // SAFETY: `runner` points to the code that is running this VM (set
        // by the engine for the run); `self` is not used during the call.
        unsafe { (*runner).call(me, target, CALLBACK_FRAME, args) }
    }

    /// Load `size` bytes (1, 2, 4, 8) at `addr`, little-endian.
    pub fn load(&mut self, pc: u32, addr: u64, size: u32) -> u64 {
        match self.regions.host(addr, u64::from(size)) {
            // SAFETY: `host` checked `size` bytes; unaligned reads are fine.
            Some(p) => unsafe { read_le(p, size) },
            None => self.slow_access(pc, addr, size, None),
        }
    }

    /// Store the low `size` bytes of `value` at `addr`.
    pub fn store(&mut self, pc: u32, addr: u64, size: u32, value: u64) {
        match self.regions.host(addr, u64::from(size)) {
            // SAFETY: as in `load`.
            Some(p) => unsafe { write_le(p, size, value) },
            None => {
                self.slow_access(pc, addr, size, Some(value));
            }
        }
    }

    /// Accesses the region table refused: context fields, else a fault.
    pub fn slow_access(&mut self, pc: u32, addr: u64, size: u32, store: Option<u64>) -> u64 {
        if region_of(addr) == REGION_CTX {
            let offset = offset_of(addr);
            return match self.env.ctx_access(offset, size, store) {
                Some(v) => v,
                None => {
                    self.raise(pc, FaultKind::BadContext { offset, size, store: store.is_some() });
                    0
                }
            };
        }
        self.raise(pc, FaultKind::OutOfBounds { addr, size, store: store.is_some() });
        0
    }

    /// `len` bytes at `addr` for a helper, or a fault naming `pc`.
    pub fn bytes(&mut self, pc: u32, addr: u64, len: u64) -> Option<&mut [u8]> {
        match self.regions.host(addr, len) {
            // SAFETY: `host` checked the range against its region.
            Some(p) => Some(unsafe { std::slice::from_raw_parts_mut(p, len as usize) }),
            None => {
                self.raise(pc, FaultKind::OutOfBounds { addr, size: len as u32, store: false });
                None
            }
        }
    }
}

/// # Safety
/// `p` must be valid for `size` bytes.
pub unsafe fn read_le(p: *const u8, size: u32) -> u64 {
    // SAFETY: the caller's promise; `read_unaligned` has no alignment need.
    unsafe {
        match size {
            1 => u64::from(*p),
            2 => u64::from(u16::from_le(p.cast::<u16>().read_unaligned())),
            4 => u64::from(u32::from_le(p.cast::<u32>().read_unaligned())),
            _ => u64::from_le(p.cast::<u64>().read_unaligned()),
        }
    }
}

/// # Safety
/// `p` must be valid for `size` bytes.
pub unsafe fn write_le(p: *mut u8, size: u32, value: u64) {
    // SAFETY: the caller's promise.
    unsafe {
        match size {
            1 => *p = value as u8,
            2 => p.cast::<u16>().write_unaligned((value as u16).to_le()),
            4 => p.cast::<u32>().write_unaligned((value as u32).to_le()),
            _ => p.cast::<u64>().write_unaligned(value.to_le()),
        }
    }
}

/// Slow path for generated code: a load (`store == 0`) or store of `size`
/// bytes at `addr` that the inline region check refused. Returns the
/// loaded value; on a fault sets `abort`.
///
/// # Safety
/// `vm` must be the `ctx` of a live [`Vm`] that nothing else borrows.
pub unsafe extern "C" fn nfl_engine_mem(
    vm: *mut VmCtx,
    addr: u64,
    size: u64,
    store: u64,
    value: u64,
    pc: u64,
) -> u64 {
    // SAFETY: the caller's promise; `ctx` is the first field of `Vm`.
    let vm = unsafe { &mut *vm.cast::<Vm>() };
    vm.slow_access(pc as u32, addr, size as u32, (store != 0).then_some(value))
}

/// Generated code's helper and kfunc call: `id` is the helper number or
/// `KFUNC_BASE + kfunc index`; `pc` the call's instruction index.
///
/// # Safety
/// As [`nfl_engine_mem`]; also, while it runs, generated code may be
/// re-entered (callbacks) only through [`crate::engine::Engine`].
pub unsafe extern "C" fn nfl_engine_call(
    vm: *mut VmCtx,
    id: u64,
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    pc: u64,
) -> u64 {
    // SAFETY: the caller's promise.
    unsafe { crate::engine::calls::dispatch(vm.cast::<Vm>(), id, [r1, r2, r3, r4, r5], pc as u32) }
}
