//! The engine a caller drives: load an object, fill its maps as the kernel
//! path does, run packets, read maps back.

use nfl_compiler::schema::Schema;

use super::EngineError;
use super::calls::packet_moved;
use super::env::{Env, World};
use super::image::{self, Image, Linked};
use super::interp::Interp;
use super::jit::JitProgram;
use super::maps::{BPF_ANY, MapSet};
use super::vm::{ABORT_FAULT, ABORT_TAIL, FaultKind, JitFn, REGION_CTX, Runner, Vm, VmCtx, vaddr};
use crate::load::ProgramKind;

/// How the engine executes code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// The reference interpreter.
    Interp,
    /// Native code from the Cranelift JIT ([`super::jit`]).
    #[default]
    Jit,
}

impl Mode {
    pub const ALL: &[Mode] = &[Mode::Jit, Mode::Interp];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Interp => "interp",
            Mode::Jit => "jit",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub mode: Mode,
    pub world: World,
}

/// One program's executable form.
enum Code {
    Interp(Interp),
    /// The compiled program and its entry function.
    Jit(JitProgram, JitFn),
}

impl Code {
    fn runner(&self) -> &dyn Runner {
        match self {
            Code::Interp(i) => i,
            Code::Jit(j, _) => j,
        }
    }

    /// Run the program's entry on `ctx` in frame 0.
    ///
    /// # Safety
    /// `vm` must be live and not otherwise used during the call.
    unsafe fn enter(&self, vm: *mut Vm, ctx: u64) -> u64 {
        match self {
            // SAFETY: the caller's promise.
            Code::Interp(i) => unsafe { i.exec(vm, 0, 0, [ctx, 0, 0, 0, 0]) },
            // SAFETY: the caller's promise; `ctx` is the first field of `Vm`.
            Code::Jit(_, f) => unsafe { f(vm.cast::<VmCtx>(), 0, ctx, 0, 0, 0, 0) },
        }
    }
}

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineRun {
    /// The verdict.
    pub retval: u32,
    /// The packet afterwards.
    pub data_out: Vec<u8>,
    /// `bpf_redirect`'s target, if the program called it.
    pub redirect: Option<u32>,
}

/// A run the engine stopped: the fault, the instruction and its `.nf`
/// line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{program}: {what}{}", place(.pc, .insn, .line))]
#[diagnostic(code(nfl::E0962), help("the kernel's verifier would reject this program; the engine stopped it instead of running it unsafely"))]
pub struct Fault {
    pub program: String,
    pub pc: u32,
    pub kind: FaultKind,
    pub what: String,
    /// The instruction's disassembly; empty when the run stopped before
    /// any instruction (a packet it cannot take).
    pub insn: String,
    pub line: Option<(String, u32)>,
}

/// ` at instruction N (`insn`), from line L: text`, or nothing when no
/// instruction is to blame.
fn place(pc: &u32, insn: &str, line: &Option<(String, u32)>) -> String {
    if insn.is_empty() {
        return String::new();
    }
    let line = line.as_ref().map(|(l, n)| format!(", from line {n}: {l}")).unwrap_or_default();
    format!(" at instruction {pc} (`{insn}`){line}")
}

fn describe(kind: &FaultKind) -> String {
    match kind {
        FaultKind::OutOfBounds { addr, size, store } => {
            let op = if *store { "store" } else { "load" };
            format!("{op} of {size} bytes at {addr:#x}, outside the memory it may touch")
        }
        FaultKind::BadContext { offset, size, store } => {
            format!("{} of {size} bytes at context offset {offset}", if *store { "store" } else { "load" })
        }
        FaultKind::CallDepth => "calls nested deeper than 8 frames".into(),
        FaultKind::Helper { id, message } => format!("helper {id}: {message}"),
        FaultKind::BadInsn { message } => message.clone(),
        FaultKind::Limit { message } => message.clone(),
    }
}

pub struct Engine {
    image: Image,
    code: Vec<Code>,
    vm: Box<Vm>,
    entry: usize,
    schema: Option<Schema>,
}

impl Engine {
    /// Read, link and prepare every program of `obj`, create its maps and
    /// write the entries its build computed.
    pub fn new(obj: &[u8], opts: Options) -> Result<Engine, EngineError> {
        let mut image = image::read(obj)?;
        let schema = Schema::from_object(obj).map_err(EngineError::Object)?;
        let ncpu = opts.world.nr_cpus.max(1) as usize;
        let maps = MapSet::new(&image.maps, ncpu).map_err(EngineError::Object)?;
        let hook = image.programs.first().map_or(ProgramKind::Xdp, |p| p.kind);
        let mut vm = Vm::new(Env::new(hook, maps, opts.world));
        vm.env.kstate.set_types(image.type_sizes.clone());
        place_global_data(&mut vm, &mut image.programs)?;
        let entry = match &schema {
            Some(s) => image
                .program(&s.program)
                .ok_or_else(|| EngineError::Object(format!("no program `{}`", s.program)))?,
            None if image.programs.is_empty() => return Err(EngineError::Object("the object has no program".into())),
            None => 0,
        };
        let code = image
            .programs
            .iter()
            .map(|p| match opts.mode {
                Mode::Interp => Ok(Code::Interp(Interp::new(p.clone()))),
                Mode::Jit => {
                    let j = super::jit::compile(p)?;
                    let f = j.entry(0).ok_or_else(|| EngineError::Jit { program: p.name.clone(), message: "no entry function".into() })?;
                    Ok(Code::Jit(j, f))
                }
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let mut engine = Engine { image, code, vm, entry, schema };
        engine.fill_maps()?;
        Ok(engine)
    }

    /// Write what the build computed into the maps, and the stages into
    /// their prog array, as the kernel path does at load.
    fn fill_maps(&mut self) -> Result<(), EngineError> {
        let Some(schema) = &self.schema else { return Ok(()) };
        let all: Vec<&str> = schema.maps.iter().map(|m| m.name.as_str()).collect();
        let maps = &mut self.vm.env.maps;
        for w in crate::state::initial_writes(schema, &all) {
            let map = maps.by_name(&w.map).ok_or_else(|| EngineError::Object(format!("no map `{}`", w.map)))?;
            // As `state::MapSet::write_initial_for` writes the kernel's maps.
            let done = if w.key.is_empty() {
                map.push(&w.value, BPF_ANY)
            } else if w.every_cpu {
                map.update_every_cpu(&w.key, &w.value, BPF_ANY)
            } else {
                map.update(&w.key, &w.value, BPF_ANY, None)
            };
            done.map_err(|e| EngineError::Object(format!("writing the initial entries of `{}`: errno {e}", w.map)))?;
        }
        if let Some(stages) = &schema.stages {
            let array = maps
                .by_name(&stages.prog_array)
                .ok_or_else(|| EngineError::Object(format!("no map `{}`", stages.prog_array)))?;
            for (slot, name) in stages.programs.iter().enumerate() {
                let prog = self.image.program(name).ok_or_else(|| EngineError::Object(format!("no program `{name}`")))?;
                array
                    .set_prog(slot as u32, Some(prog))
                    .map_err(|e| EngineError::Object(format!("stage slot {slot}: errno {e}")))?;
            }
        }
        Ok(())
    }

    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    pub fn hook(&self) -> ProgramKind {
        self.vm.env.hook
    }

    pub fn programs(&self) -> &[Linked] {
        &self.image.programs
    }

    pub fn maps(&mut self) -> &mut MapSet {
        &mut self.vm.env.maps
    }

    pub fn world(&mut self) -> &mut World {
        &mut self.vm.env.world
    }

    /// Run the entry program on one packet.
    pub fn run(&mut self, data: &[u8]) -> Result<EngineRun, Fault> {
        self.run_program(self.entry, data)
    }

    /// Run program `prog` (and the programs it tail-calls) on one packet.
    pub fn run_program(&mut self, prog: usize, data: &[u8]) -> Result<EngineRun, Fault> {
        self.load_packet(prog, data)?;
        let ret = self.execute(prog)?;
        Ok(self.outcome(ret))
    }

    /// What the last run left: its verdict, the packet, the redirect.
    fn outcome(&self, r0: u64) -> EngineRun {
        let env = &self.vm.env;
        EngineRun { retval: r0 as u32, data_out: env.packet.data().to_vec(), redirect: env.redirect.map(|r| r.0) }
    }

    /// `BPF_PROG_TEST_RUN` with `repeat`: the packet is placed once and the
    /// entry program runs `repeat` times on it (seeing what earlier runs
    /// left, as in the kernel); the last run's result and the mean time
    /// of one run in nanoseconds.
    pub fn run_repeat(&mut self, data: &[u8], repeat: u32) -> Result<(EngineRun, f64), Fault> {
        let prog = self.entry;
        self.load_packet(prog, data)?;
        let start = std::time::Instant::now();
        let mut ret = 0;
        for _ in 0..repeat.max(1) {
            ret = self.execute(prog)?;
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(repeat.max(1));
        Ok((self.outcome(ret), ns))
    }

    fn load_packet(&mut self, prog: usize, data: &[u8]) -> Result<(), Fault> {
        if self.vm.env.packet.fill(data).is_none() {
            let message = format!("a packet of {} bytes is larger than the engine's single buffer of {}", data.len(), super::env::MAX_PACKET);
            let kind = FaultKind::Limit { message };
            return Err(Fault { program: self.image.programs[prog].name.clone(), pc: 0, what: describe(&kind), kind, insn: String::new(), line: None });
        }
        packet_moved(&mut self.vm);
        Ok(())
    }

    /// One run of `prog` on the packet in place, following tail calls.
    fn execute(&mut self, prog: usize) -> Result<u64, Fault> {
        let vm = &mut *self.vm;
        vm.begin_run();
        vm.env.redirect = None;
        vm.env.tail_calls = 0;
        vm.env.reserved.clear();
        let mut current = prog;
        let ret = loop {
            let code = &self.code[current];
            let runner: &dyn Runner = code.runner();
            // SAFETY: the runner outlives this call (it is `self.code`,
            // which the run does not touch); the pointer is cleared below.
            let runner: *const dyn Runner = unsafe { std::mem::transmute::<&dyn Runner, &'static dyn Runner>(runner) };
            vm.runner = Some(runner);
            vm.code_len = self.image.programs[current].insns.len() as u32;
            let vmp: *mut Vm = vm;
            // SAFETY: `vmp` is live and unborrowed during the call.
            let r0 = unsafe { code.enter(vmp, vaddr(REGION_CTX, 0)) };
            vm.runner = None;
            match vm.ctx.abort {
                ABORT_TAIL => {
                    vm.ctx.abort = 0;
                    match vm.tail_target.take() {
                        Some(t) => current = t,
                        None => break r0,
                    }
                }
                ABORT_FAULT => {
                    let f = vm.fault.take().unwrap_or(super::vm::Fault { pc: 0, kind: FaultKind::Limit { message: "unknown fault".into() } });
                    vm.env.maps.end_run();
                    return Err(self.fault(current, f.pc, f.kind));
                }
                _ => break r0,
            }
        };
        self.vm.env.maps.end_run();
        Ok(ret)
    }

    fn fault(&self, prog: usize, pc: u32, kind: FaultKind) -> Fault {
        let p = &self.image.programs[prog];
        let insn = if (pc as usize) < p.insns.len() {
            nfl_compiler::bpf::disasm::disasm_insn(&p.insns, pc as usize).0
        } else {
            String::new()
        };
        Fault {
            program: p.name.clone(),
            pc,
            what: describe(&kind),
            kind,
            insn,
            line: p.line_of(pc).map(|(l, n)| (l.trim().to_string(), n)),
        }
    }
}

/// Point every global-data reference (`LD_IMM64` of a map value) at a
/// region over that map's value.
fn place_global_data(vm: &mut Vm, programs: &mut [Linked]) -> Result<(), EngineError> {
    let mut placed: Vec<(u32, u32)> = Vec::new();
    for p in programs.iter_mut() {
        for &(pc, map, off) in &p.value_refs {
            let region = match placed.iter().find(|m| m.0 == map) {
                Some(&(_, r)) => r,
                None => {
                    let m = vm
                        .env
                        .maps
                        .get(u64::from(map))
                        .ok_or_else(|| EngineError::Object(format!("global data in map {map}, which does not exist")))?;
                    let size = u64::from(m.def.value_size);
                    let host = m
                        .lookup(&0u32.to_ne_bytes(), 0)
                        .ok_or_else(|| EngineError::Object(format!("global data in map `{}`, which is no array", m.def.name)))?;
                    let r = vm.regions.add_persistent(host, size);
                    placed.push((map, r));
                    r
                }
            };
            let v = vaddr(region, off);
            let pc = pc as usize;
            p.insns[pc].imm = v as u32 as i32;
            p.insns[pc + 1].imm = (v >> 32) as u32 as i32;
        }
    }
    vm.sync();
    Ok(())
}
