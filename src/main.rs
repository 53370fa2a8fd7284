//! `nflc`: compile `.nf` network functions to eBPF and run their tests.

mod cmd;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "nflc", version, about = "Compile declarative network functions (.nf) to verifier-ready eBPF")]
struct Cli {
    /// Colour in diagnostics: auto (on a terminal), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The parsed syntax tree of the root file.
    Ast,
    /// The IR as built from the checked program.
    Ir,
    /// The IR after optimisation.
    IrOpt,
    /// The eBPF disassembly.
    Asm,
}

/// `--target`, shared by `build`, `test` and `run`.
#[derive(clap::Args, Debug)]
pub struct TargetArg {
    /// Capability profile: helpers (pure eBPF, any kernel with spin
    /// locks), stock (the kernel's rbtree kfuncs), enetstl (sketches call
    /// the kfunc-lib module's kfuncs; queues use the stock lowering), or
    /// auto (probe the running kernel).
    #[arg(long, default_value = "helpers", value_parser = ["helpers", "stock", "enetstl", "auto"])]
    pub target: String,
    /// Instruction budget of each program: a larger one is split into
    /// stages chained by tail calls (as one over the verifier's limits is).
    #[arg(long, value_name = "N")]
    pub max_insns: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check a program; report every error.
    Check {
        file: PathBuf,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Compile a program to an eBPF ELF object.
    Build {
        file: PathBuf,
        /// Output object (default: FILE with extension .o).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also print an intermediate form to standard output.
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        /// Print, per stage, instructions, stack, the estimated verifier
        /// cost and (loading it through the kernel) the actual one.
        #[arg(long)]
        stats: bool,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Say what was specialized from the config, how each table, sketch
        /// and pool is implemented, and how each loop is lowered.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        target: TargetArg,
    },
    /// Disassemble a program (.nf, compiled first) or an object (.o).
    Disasm {
        file: PathBuf,
    },
    /// Run the packet tests in FILE's `.test` file through the kernel
    /// (BPF_PROG_TEST_RUN), the userspace engine, or both.
    Test {
        file: PathBuf,
        /// The test file (default: FILE with extension .test).
        #[arg(long)]
        cases: Option<PathBuf>,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the cases run: `both` fails on any difference between the
        /// kernel and the engine in verdict, output bytes or map contents.
        #[arg(long, value_enum, default_value = "kernel")]
        engine: cmd::test::EngineChoice,
        #[command(flatten)]
        target: TargetArg,
    },
    /// Run a capture through FILE in the userspace engine, without
    /// privileges: verdicts, counters, table hits, state and sketch tops;
    /// optionally the frames that left the program, as a pcap.
    Sim {
        file: PathBuf,
        /// The capture (pcap or pcapng, Ethernet); its timestamps are the
        /// program's clock.
        #[arg(long)]
        pcap: PathBuf,
        /// Write the frames the program passed, transmitted or redirected
        /// (as it left them) to this pcap.
        #[arg(long)]
        out: Option<PathBuf>,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the capture runs (only the userspace engine).
        #[arg(long, value_parser = ["user"], default_value = "user")]
        engine: String,
        /// Keys listed per top-k sketch.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        target: TargetArg,
    },
    /// Attach a program to an interface and watch it until Ctrl-C (--iface),
    /// or drive a bounded burst of its test packets through it in a private
    /// network namespace and report what became of each.
    Run {
        file: PathBuf,
        /// Attach to this interface and stay in the foreground.
        #[arg(long)]
        iface: Option<String>,
        /// The hook (default: xdp for XDP programs, tc-ingress for TC ones).
        #[arg(long, value_parser = ["xdp", "xdp-generic", "tc-ingress", "tc-egress"])]
        hook: Option<String>,
        /// Send the frames of this capture instead of FILE's .test packets.
        #[arg(long, conflicts_with = "iface")]
        pcap: Option<PathBuf>,
        /// The run's name, for its pins and record (default: FILE's stem).
        #[arg(long)]
        name: Option<String>,
        /// YAML config values (default: FILE.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// With --iface: reload (keeping state) whenever FILE or its config
        /// changes.
        #[arg(long, requires = "iface")]
        watch: bool,
        #[command(flatten)]
        target: TargetArg,
    },
    /// Recompile a running NF from its source (with a new config) and swap it
    /// in, keeping its state.
    Reload {
        /// The run's name (`nflc list`).
        name: String,
        /// YAML config values (default: the one the run uses now).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Add, delete or list the entries of a running NF's table.
    Table {
        #[command(subcommand)]
        op: TableOp,
    },
    /// Counters, table hit rates and program runs of a running NF.
    Stats {
        name: String,
    },
    /// The keyed state of a running NF.
    State {
        #[command(subcommand)]
        op: StateOp,
    },
    /// Read a running NF's sketches.
    Sketch {
        #[command(subcommand)]
        op: SketchOp,
    },
    /// Read a running NF's queues without changing them.
    Queue {
        #[command(subcommand)]
        op: QueueOp,
    },
    /// The NFs running on this machine.
    List,
}

#[derive(Subcommand, Debug)]
pub enum QueueOp {
    /// The element a queue would give next (a fifo's head, a pqueue's
    /// smallest rank, a wheel's next due element) and its element count.
    /// A pqueue built for stock/enetstl (a kernel rbtree) cannot be read.
    Peek {
        name: String,
        queue: String,
        /// Show the first N in the order they would leave (pqueue, wheel;
        /// default 1).
        #[arg(short = 'n')]
        n: Option<usize>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TableOp {
    /// Add an entry: `nflc table add fw acl --match ipv4.src=198.18.0.0/16 --action mark --arg port=7`.
    Add {
        name: String,
        table: String,
        /// A key and its value, as in a YAML config (`ipv4.src=198.18.0.0/16`).
        #[arg(long = "match", value_name = "KEY=VALUE")]
        matches: Vec<String>,
        /// One of the table's actions.
        #[arg(long)]
        action: String,
        /// An argument of the action, by name or in parameter order.
        #[arg(long = "arg", value_name = "[PARAM=]VALUE")]
        args: Vec<String>,
        /// Tuple-space tables: the rule's priority (higher wins; default: above every rule).
        #[arg(long)]
        priority: Option<u32>,
    },
    /// Delete an entry, named by its keys (`--match`) or, in a tuple-space table, its priority.
    Del {
        name: String,
        table: String,
        #[arg(long = "match", value_name = "KEY=VALUE")]
        matches: Vec<String>,
        #[arg(long)]
        priority: Option<u32>,
    },
    /// The entries of a table (or of every table), with hit and miss counts.
    List {
        name: String,
        table: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum StateOp {
    /// Every entry of the state maps (or of MAP): key fields, value, and for
    /// idle maps the age and whether it expired.
    Dump {
        name: String,
        map: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SketchOp {
    /// A sketch's answer for a key: a count-min or count-sketch estimate,
    /// Bloom membership, or a HyperLogLog's distinct count (no key, or the
    /// `per` key of one kept per key).
    Query {
        name: String,
        sketch: String,
        /// The key values, in the order of the sketch's `keyed` (or `per`): IPv4, MAC or integer.
        key: Vec<String>,
    },
    /// A top-k sketch's heaviest keys with their count-min estimates, or a
    /// keyed HyperLogLog's keys by distinct count.
    Top {
        name: String,
        sketch: String,
        /// How many (default: the sketch's `k`).
        #[arg(short = 'n')]
        n: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = report::use_color(cli.color);
    let result = match cli.command {
        Command::Check { file, config } => cmd::check::run(&file, config.as_deref(), color),
        Command::Build { file, output, emit, stats, config, explain, target } => {
            let target_arg_max = target.max_insns;
            cmd::parse_target(&target.target).and_then(|target| {
                let opts = cmd::build::Opts { output, emit, stats, config, explain, target, max_insns: target_arg_max };
                cmd::build::run(&file, &opts, color)
            })
        }
        Command::Disasm { file } => cmd::disasm::run(&file, color),
        Command::Test { file, cases, config, engine, target: t } => cmd::parse_target(&t.target)
            .and_then(|target| cmd::test::run(&file, cases.as_deref(), config.as_deref(), (target, t.max_insns), engine, color)),
        Command::Run { file, iface, hook, pcap, name, config, watch, target: t } => cmd::parse_target(&t.target).and_then(|target| {
            let max_insns = t.max_insns;
            cmd::run::run(&cmd::run::Args { file, iface, hook, pcap, name, config, watch, target, max_insns }, color)
        }),
        Command::Sim { file, pcap, out, config, engine: _, top, target: t } => cmd::parse_target(&t.target).and_then(|target| {
            let args = cmd::sim::Args { file: &file, config: config.as_deref(), pcap: &pcap, out: out.as_deref(), target, max_insns: t.max_insns, top };
            cmd::sim::run(&args, color)
        }),
        Command::Reload { name, config } => cmd::reload::run(&name, config.as_deref(), color),
        Command::Table { op } => cmd::table::run(&op, color),
        Command::Stats { name } => cmd::stats::run(&name, color),
        Command::State { op: StateOp::Dump { name, map } } => cmd::state::run(&name, map.as_deref(), color),
        Command::Sketch { op: SketchOp::Query { name, sketch, key } } => cmd::sketch::query(&name, &sketch, &key, color),
        Command::Sketch { op: SketchOp::Top { name, sketch, n } } => cmd::sketch::top(&name, &sketch, n, color),
        Command::Queue { op: QueueOp::Peek { name, queue, n } } => cmd::queue::peek(&name, &queue, n, color),
        Command::List => cmd::list::run(),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{}", report::error_line(&msg, color));
            ExitCode::FAILURE
        }
    }
}
