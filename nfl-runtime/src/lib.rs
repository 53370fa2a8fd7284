//! nfl-runtime: the only crate that touches the kernel.
//!
//! - [`kernel`]: probes whether BPF is usable, the `require_kernel` test gate, bpffs.
//! - [`load`](mod@load): loads an ELF object with aya and reports verifier statistics.
//! - [`testrun`]: `BPF_PROG_TEST_RUN` on one packet, with the kernel's size rules.
//! - [`testfile`]: the `.test` packet-file format (`docs/test-format.md`) and its runner.
//! - [`pcap`]: reading pcap (both byte orders) and pcapng captures, leniently.
//! - [`state`]: a program's maps typed by its schema: initial entries,
//!   counters, dumps ([`mapops`]: raw map element syscalls).
//! - [`netns`]: throw-away network namespaces with veth pairs, for tests.
//! - [`run`]: `nflc run` on an interface: pins, BPF link, run record, live view
//!   ([`attach`], [`pins`], [`record`], [`live`], [`signal`]); [`reload`] swaps
//!   the program of a running NF; [`burst`] and [`traffic`] drive frames through
//!   an NF in a private namespace ([`packet`]: AF_PACKET sockets).
//!
//! Every kernel test in the project starts with
//! `if !nfl_runtime::require_kernel("name") { return; }`.

pub mod attach;
pub mod bpfsys;
pub mod burst;
pub mod burst_report;
pub mod cp_error;
pub mod engine;
pub mod kernel;
pub mod kfunc;
pub mod live;
pub mod load;
pub mod mapops;
pub mod migrate;
pub mod netns;
pub mod nf;
pub mod notation;
pub mod packet;
pub mod pcap;
pub mod pins;
pub mod plan;
pub mod queue;
pub mod record;
pub mod reload;
pub mod rules;
pub mod run;
pub mod run_error;
pub mod signal;
pub mod stages;
pub mod sketch;
pub mod state;
pub mod state_dump;
pub mod stats;
pub mod table_ops;
pub mod testfile;
pub mod testrun;
pub mod traffic;
pub mod views;

pub use kernel::{bpf_available, ensure_bpffs, require_kernel};
pub use load::{LoadError, LoadedProgram, ProgramKind, load, rejection_source, trim_verifier_log};
pub use pcap::{Capture, read_pcap};
pub use testfile::{Case, CaseOutcome, Verdict, format_outcomes, run_cases};
pub use testrun::{RunError, RunResult, min_packet_len, test_run};
